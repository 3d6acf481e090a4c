"""The HTTP hop between orderpay and Stripe, where the payment tests inject faults.

`ExternalStripe` is the sandbox as a separate server (its state on disk, so it survives
a restart); `AnswerDroppingProxy` sits between orderpay and it and, when told, lets a
request reach Stripe and then closes the connection instead of answering: Stripe acted,
orderpay never learns how; or holds Stripe's answer while something else happens (a webhook,
another click) before passing it on. The same proxy, put between Stripe and orderpay's webhook
endpoint, answers Stripe's deliveries 503 when told (`unavailable`): webhooks that do not
arrive. Nothing of orderpay's code is patched.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from payment_core.sandbox import SandboxConfig, create_sandbox_app
from tests.support import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class ExternalStripe:
    """A standalone sandbox on a fixed loopback port, with its state on disk so it survives a restart."""

    config: SandboxConfig
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.server = uvicorn.Server(uvicorn.Config(create_sandbox_app(self.config), log_config=None, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the external sandbox did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.server = self.thread = None

    def admin(self, path: str) -> dict[str, object]:
        """A sandbox-only call (`/_sandbox/...`), with the secret key."""
        response = httpx.post(f"{self.url}/_sandbox/{path}", headers={"Authorization": f"Bearer {self.config.secret_key}"},
                              timeout=10)
        response.raise_for_status()
        return response.json()


@dataclass
class AnswerDroppingProxy:
    """A loopback HTTP/1.1 proxy to `upstream`. `drop_answers(method, path)` makes the next matching
    requests reach Stripe and then lose their answer (the connection closes with no response)."""

    upstream: str
    port: int = field(default_factory=free_port)
    dropped: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # every request passed on, "METHOD /path?query"
    idempotency_keys: list[str | None] = field(default_factory=list)  # each one's Idempotency-Key, in step with `seen`
    _rules: list[list[object]] = field(default_factory=list)  # [method, path prefix, times left]
    _holds: list[list[object]] = field(default_factory=list)  # [method, path, callback, times left]
    _unavailable: list[tuple[str, set[str], list[bytes]]] = field(default_factory=list)  # [method, paths, bodies refused]
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def drop_answers(self, method: str, path: str, *, times: int) -> Iterator[list[str]]:
        """Within the block, the next `times` answers to `method path…` are lost after Stripe acted.
        (The SDK retries a lost POST once with the same idempotency key: 2 loses one call's answer.)"""
        rule: list[object] = [method, path, times]
        self._rules.append(rule)
        try:
            yield self.dropped
        finally:
            self._rules.remove(rule)

    @contextmanager
    def hold_answers(self, method: str, path: str, meanwhile: Callable[[bytes], None], *, times: int = 1) -> Iterator[None]:
        """Within the block, Stripe's answer to the next `times` `method path` requests waits, after Stripe
        acted, until `meanwhile(answer body)` has run (in a thread, so calls through the proxy still pass):
        whatever it does happens between Stripe acting and orderpay hearing of it."""
        hold: list[object] = [method, path, meanwhile, times]
        self._holds.append(hold)
        try:
            yield
        finally:
            self._holds.remove(hold)

    @contextmanager
    def unavailable(self, method: str, *paths: str) -> Iterator[list[bytes]]:
        """Within the block, `method` requests to any of `paths` are answered 503 without reaching
        upstream (whose sender retries later, as Stripe does a webhook); yields the bodies so refused."""
        rule: tuple[str, set[str], list[bytes]] = (method, set(paths), [])
        self._unavailable.append(rule)
        try:
            yield rule[2]
        finally:
            self._unavailable.remove(rule)

    def _refuses(self, method: str, path: str, body: bytes) -> bool:
        for rule in self._unavailable:
            if rule[0] == method and path.split("?")[0] in rule[1]:
                rule[2].append(body)
                return True
        return False

    def _hold_for(self, method: str, path: str) -> Callable[[bytes], None] | None:
        for hold in self._holds:
            if hold[0] == method and path.split("?")[0] == hold[1] and int(hold[3]) > 0:  # type: ignore[call-overload]
                hold[3] = int(hold[3]) - 1  # type: ignore[call-overload]
                return hold[2]  # type: ignore[return-value]
        return None

    def _should_drop(self, method: str, path: str) -> bool:
        for rule in self._rules:
            if rule[0] == method and path.split("?")[0] == rule[1] and int(rule[2]) > 0:  # type: ignore[call-overload]
                rule[2] = int(rule[2]) - 1  # type: ignore[call-overload]
                self.dropped.append(f"{method} {path}")
                return True
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = [tuple(line.split(":", 1)) for line in lines[1:] if ":" in line]
            length = next((int(value) for name, value in headers if name.lower() == "content-length"), 0)
            body = await reader.readexactly(length) if length else b""
            self.seen.append(f"{method} {path}")
            self.idempotency_keys.append(next((value.strip() for name, value in headers
                                               if name.strip().lower() == "idempotency-key"), None))
            if self._refuses(method, path, body):
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            forwarded = {name.strip(): value.strip() for name, value in headers
                         if name.strip().lower() not in HOP_BY_HOP | {"host"}}
            async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as client:
                answer = await client.request(method, path, headers=forwarded, content=body)
            meanwhile = self._hold_for(method, path)
            if meanwhile is not None:
                await asyncio.to_thread(meanwhile, answer.content)
            if self._should_drop(method, path):
                return  # Stripe acted; its answer is lost on the way back
            out = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}"]
            out += [f"{name}: {value}" for name, value in answer.headers.items() if name.lower() not in HOP_BY_HOP]
            out += [f"Content-Length: {len(answer.content)}", "Connection: close", "", ""]
            writer.write("\r\n".join(out).encode("latin-1") + answer.content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
            ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                loop.run_until_complete(server.wait_closed())
                # A connection still open (an SDK's kept-alive one) has its handler waiting: end it
                # while the loop can still close its socket.
                loop.run_until_complete(_end_handlers())
                loop.close()

        self._thread = threading.Thread(target=run, name="stripe-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the proxy did not start")

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = self._thread = None


@contextmanager
def stripe_behind_a_proxy(state_path: Path, **config: Any) -> Iterator[tuple[ExternalStripe, AnswerDroppingProxy]]:
    """The sandbox as a separate server (state in `state_path`, `config` as SandboxConfig's) and the
    proxy on the hop between orderpay and it: the seam a test drops or holds Stripe's answers at."""
    service = ExternalStripe(SandboxConfig(state_path=state_path, **config), free_port())
    service.start()
    seam = AnswerDroppingProxy(service.url)
    try:
        seam.start()
        try:
            yield service, seam
        finally:
            seam.stop()
    finally:
        service.stop()


async def _end_handlers() -> None:
    """Cancel the loop's other tasks (connection handlers still waiting) and wait for them to end."""
    handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
