"""A real sandbox server on a free loopback port, the official SDK pointed at it, and a webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe
import uvicorn

from payment_core.sandbox import SandboxConfig, create_sandbox_app

# `http()`'s default: the sandbox's own secret key (each sandbox generates its keys).
SECRET = "<the sandbox's secret key>"


@dataclass
class SandboxServer:
    url: str
    config: SandboxConfig
    app: Any
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def secret_key(self) -> str:
        return self.config.secret_key

    @property
    def publishable_key(self) -> str:
        return self.config.publishable_key

    def client(self, api_key: str | None = None, **options: Any) -> stripe.StripeClient:
        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(api_key or self.secret_key, base_addresses={"api": self.url}, **options)

    def http(self, api_key: str | None = SECRET) -> httpx.Client:
        """Plain HTTP with `api_key` as bearer (the secret key unless told; None: no key at all)."""
        key = self.secret_key if api_key is SECRET else api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def reset(self) -> None:
        with self.http() as http:
            http.post("/_sandbox/reset").raise_for_status()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve(app: Any, config: SandboxConfig, *, prefix: str = "") -> SandboxServer:
    """Run `app` under uvicorn in a background thread on a free port, as a real server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.01)
    sandbox_app = app if hasattr(app.state, "sandbox") else None
    return SandboxServer(f"http://127.0.0.1:{port}{prefix}", config, sandbox_app, server, thread)


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Start extra sandboxes with their own configuration; all are stopped after the test."""
    started: list[SandboxServer] = []

    def start(config: SandboxConfig | None = None) -> SandboxServer:
        config = config or SandboxConfig()
        server = serve(create_sandbox_app(config), config)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(state_path=None, processing_delay=0.2, webhook_retry_delay=0.05)
    server = serve(create_sandbox_app(config), config)
    yield server
    server.stop()


@pytest.fixture
def sandbox(shared_sandbox: SandboxServer) -> SandboxServer:
    """The session's sandbox, reset so each test starts from nothing."""
    shared_sandbox.reset()
    return shared_sandbox


@pytest.fixture
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return sandbox.client()


@dataclass
class Receiver:
    """A tiny webhook receiver that answers 500 to the first `fail_first` deliveries."""

    url: str
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                snapshot = list(self.requests)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.02)
        raise AssertionError(f"receiver never saw the expected deliveries; got {[r['type'] for r in snapshot]}")

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["status"] < 300]


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(fail_first: int = 0, port: int = 0) -> Receiver:
        holder: dict[str, Receiver] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec = holder["receiver"]
                with rec.lock:
                    status = 500 if len(rec.requests) < rec.fail_first else 200
                    rec.requests.append(
                        {
                            "body": body,
                            "signature": self.headers.get("Stripe-Signature"),
                            "type": json.loads(body)["type"],
                            "id": json.loads(body)["id"],
                            "status": status,
                            "at": time.monotonic(),
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        holder["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/webhooks", fail_first)
        return holder["receiver"]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
