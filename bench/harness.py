"""Shared benchmark plumbing: servers in their own processes, a load generator here,
and the figures written into docs/performance.md between per-benchmark markers.

Servers run as subprocesses so that the load generator and the server under test
do not share one interpreter lock; the baseline runs the same way in the same run.
"""
from __future__ import annotations

import asyncio
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server command run in a child process until `stop()`; ready when `ready_path` answers 200."""

    def __init__(self, command: Sequence[str], *, port: int, ready_path: str, env: dict[str, str] | None = None) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        # BENCH_LOG_DIR keeps each server's output (to see why a request failed under load).
        log_dir = os.environ.get("BENCH_LOG_DIR")
        output = open(Path(log_dir) / f"server-{port}.log", "wb") if log_dir else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(list(command), env={**os.environ, **(env or {})}, cwd=ROOT,
                                        stdout=output, stderr=output)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base_url + ready_path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server {command} did not become ready")
            time.sleep(0.1)

    def cpu_ms(self) -> float:
        """The CPU time (user and system, all threads) the server has used so far, in ms: read before
        and after a measure, it gives the server's own cost per request, which a shared machine's
        other load moves far less than it moves latency. Linux only (/proc); NaN elsewhere."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass(frozen=True)
class LoadResult:
    latencies_ms: list[float]
    seconds: float

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds


Call = tuple[str, bytes | None]  # (url, body): GET without a body, POST with one


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200


async def _load(calls: Sequence[Call], headers: dict[str, str], concurrency: int,
                check: Callable[[httpx.Response], bool]) -> LoadResult:
    queue: asyncio.Queue[Call] = asyncio.Queue()
    for call in calls:
        queue.put_nowait(call)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                url, body = queue.get_nowait()
                started = time.perf_counter()
                response = await (client.get(url) if body is None else client.post(url, content=body))
                latencies.append((time.perf_counter() - started) * 1000)
                if not check(response):
                    raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return LoadResult(latencies, time.perf_counter() - started)


def run_load(calls: Sequence[str | Call], *, headers: dict[str, str] | None = None, concurrency: int = 8,
             check: Callable[[httpx.Response], bool] = _ok) -> LoadResult:
    """Send every call (a URL to GET, or (url, body) to POST) with `concurrency` in flight; each must pass `check`."""
    normalized = [(call, None) if isinstance(call, str) else call for call in calls]
    return asyncio.run(_load(normalized, headers or {}, concurrency, check))


def combined(runs: Sequence[LoadResult]) -> LoadResult:
    """Several rounds as one result."""
    return LoadResult([v for r in runs for v in r.latencies_ms], sum(r.seconds for r in runs))


def machine_line() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section between `<!-- bench:name -->` markers in docs/performance.md."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = PERFORMANCE_DOC.read_text() if PERFORMANCE_DOC.exists() else "# Performance\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    PERFORMANCE_DOC.write_text(text)


def python() -> str:
    return sys.executable
