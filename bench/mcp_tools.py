"""getReservation over MCP streamable HTTP: orderpay's tool (bearer auth, the store, 1,000 rows)
against a tool on a bare MCPServer returning the same JSON, in the same run: the SDK's floor.
Target: orderpay's throughput >= 0.7 of the floor's.

    .venv/bin/python bench/mcp_tools.py            # full run, writes docs/performance.md
    .venv/bin/python bench/mcp_tools.py --quick --no-write

Both servers are stateless with JSON responses, as orderpay serves MCP; the requests are
byte for byte what the official client sends on the 2026-07-28 wire.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LoadResult, ServerProcess, free_port, machine_line, python, write_section  # noqa: E402
from bench.rest_orders import populate  # noqa: E402
from payment_core.identity import find_demo_user  # noqa: E402
from payment_core.runtime import dev_issuer  # noqa: E402
from payment_core.settings import Settings  # noqa: E402

PROTOCOL = "2026-07-28"
TOOL = "getReservation"


def call_body(request_id: int, reservation_id: str) -> bytes:
    meta = {"io.modelcontextprotocol/protocolVersion": PROTOCOL,
            "io.modelcontextprotocol/clientInfo": {"name": "mcp", "version": "0.1.0"},
            "io.modelcontextprotocol/clientCapabilities": {}}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                       "params": {"name": TOOL, "arguments": {"reservationId": reservation_id}, "_meta": meta}},
                      separators=(",", ":")).encode()


def call_headers(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "MCP-Protocol-Version": PROTOCOL, "Mcp-Method": "tools/call", "Mcp-Name": TOOL}
    return {**headers, "Authorization": f"Bearer {token}"} if token else headers


async def _load(url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int) -> LoadResult:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(url, content=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or response.json()["result"].get("isError"):
                    raise RuntimeError(f"{TOOL} answered {response.status_code}: {response.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return LoadResult(latencies, time.perf_counter() - started)


def measure(base_url: str, ids: list[str], requests: int, token: str | None, concurrency: int = 1) -> LoadResult:
    """Latency with one call at a time (concurrency 1), throughput with several in flight."""
    bodies = [call_body(n, random.choice(ids)) for n in range(requests)]
    url, headers = f"{base_url}/mcp", call_headers(token)
    asyncio.run(_load(url, bodies[: max(50, requests // 10)], headers, concurrency))  # warm-up
    return asyncio.run(_load(url, bodies, headers, concurrency))


# -- the two servers, each run in its own process by this same script ----------------------------

def serve_orderpay(port: int) -> None:
    import uvicorn

    from payment_core.logs import configure_logging
    from tests.mcp.support import app_with_mcp  # the composition create_app is to adopt

    settings = Settings(port=port)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(app_with_mcp(settings), host="127.0.0.1", port=port, log_config=None, access_log=False)


def serve_bare(port: int) -> None:
    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    body = json.loads(Path(os.environ["BENCH_BODY_FILE"]).read_text())
    server = MCPServer("bare", log_level="WARNING")

    @server.tool(name=TOOL)
    async def get_reservation(reservationId: str) -> dict[str, Any]:  # noqa: N803 (the tool's argument name)
        return body

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = server.streamable_http_app(stateless_http=True, json_response=True,
                                     transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(kind: str, env: dict[str, str], ready_path: str) -> ServerProcess:
    port = free_port()
    return ServerProcess([python(), str(Path(__file__).resolve()), "--serve", kind, "--port", str(port)],
                         port=port, ready_path=ready_path, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--quick", action="store_true", help="small counts: checks the benchmark runs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--serve", choices=["orderpay", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        (serve_orderpay if args.serve == "orderpay" else serve_bare)(args.port)
        return 0
    requests = 200 if args.quick else args.requests

    alice = find_demo_user("alice")
    assert alice is not None
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(app="airbnb", data_dir=Path(data_dir), demo_data=False)
        ids = asyncio.run(populate(settings, 1_000, alice.user_id))
        token = dev_issuer(settings).issue(alice)
        orderpay = start("orderpay", {"ORDERPAY_APP": "airbnb", "ORDERPAY_DATA_DIR": data_dir,
                                      "ORDERPAY_DEMO_DATA": "false", "ORDERPAY_LOG_LEVEL": "WARNING"}, "/health/ready")
        try:
            sample = httpx.post(f"{orderpay.base_url}/mcp", content=call_body(0, ids[0]), headers=call_headers(token))
            body_file = Path(data_dir) / "body.json"
            body_file.write_text(json.dumps(sample.json()["result"]["structuredContent"]))
            bare = start("bare", {"BENCH_BODY_FILE": str(body_file)}, "/health")
            try:
                # Alternate the two so that machine noise falls on both alike.
                runs_ours, runs_floor = [], []
                for _ in range(2):
                    runs_ours.append(measure(orderpay.base_url, ids, requests // 2, token))
                    runs_floor.append(measure(bare.base_url, ids, requests // 2, None))
                busy_ours = measure(orderpay.base_url, ids, requests, token, concurrency=8)
                busy_floor = measure(bare.base_url, ids, requests, None, concurrency=8)
            finally:
                bare.stop()
        finally:
            orderpay.stop()
    ours = LoadResult([v for r in runs_ours for v in r.latencies_ms], sum(r.seconds for r in runs_ours))
    floor = LoadResult([v for r in runs_floor for v in r.latencies_ms], sum(r.seconds for r in runs_floor))

    ratio = busy_ours.throughput / busy_floor.throughput
    table = "\n".join([
        "| server | p50 ms | p99 ms | calls/s, 1 in flight | calls/s, 8 in flight |",
        "|---|---|---|---|---|",
        f"| bare MCPServer, trivial tool, same JSON | {floor.p50:.2f} | {floor.p99:.2f} | {floor.throughput:.0f} | {busy_floor.throughput:.0f} |",
        f"| orderpay `{TOOL}` (1,000 rows) | {ours.p50:.2f} | {ours.p99:.2f} | {ours.throughput:.0f} | {busy_ours.throughput:.0f} |",
    ])
    summary = (f"throughput ratio orderpay / bare MCPServer (8 in flight) = **{ratio:.2f}** (target >= 0.7); "
               f"1 in flight: {ours.throughput / floor.throughput:.2f}")
    print(table)
    print(summary)
    if not args.no_write:
        write_section("mcp_tools", "\n\n".join([
            "## MCP: a get-order tool call (`bench/mcp_tools.py`)",
            f"SQLite, airbnb spec, random ids, stateless streamable HTTP with JSON responses, keep-alive HTTP/1.1, "
            f"the official client's 2026-07-28 request bytes; {requests} calls per server one at a time (latency), then "
            f"{requests} with 8 in flight (throughput). orderpay verifies the bearer token and reads the store on each "
            f"call; the floor is a bare `MCPServer` whose tool returns the same JSON. Servers in their own processes, "
            f"the load (httpx) from a third. Machine: {machine_line()}.",
            table, summary,
        ]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
