"""getReservation over MCP streamable HTTP: orderpay's tool (bearer auth, the store, 1,000 rows)
against a tool on a bare MCPServer returning the same JSON, in the same run: the SDK's floor.
Target: orderpay's throughput >= 0.9 of the floor's (issue 17).

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
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LoadResult, ServerProcess, combined, free_port, machine_line, python, run_load, write_section  # noqa: E402
from bench.rest_orders import RESERVATIONS, populate  # noqa: E402
from bench.rest_orders import measure as measure_rest  # noqa: E402
from payment_core.identity import find_demo_user  # noqa: E402
from payment_core.runtime import dev_issuer  # noqa: E402
from payment_core.settings import Settings  # noqa: E402

PROTOCOL = "2026-07-28"
TOOL = "getReservation"
KINDS = ("ours", "floor", "rest", "busy ours", "busy floor", "busy rest")


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


def measure(base_url: str, ids: list[str], requests: int, token: str | None, concurrency: int = 1) -> LoadResult:
    """Latency with one call at a time (concurrency 1), throughput with several in flight."""
    calls = [(f"{base_url}/mcp", call_body(n, random.choice(ids))) for n in range(requests)]
    headers = call_headers(token)

    def tool_succeeded(response: httpx.Response) -> bool:
        return response.status_code == 200 and b'"isError":false' in response.content

    run_load(calls[: max(50, requests // 10)], headers=headers, concurrency=concurrency, check=tool_succeeded)  # warm-up
    return run_load(calls, headers=headers, concurrency=concurrency, check=tool_succeeded)


# -- the servers, each run in its own process by this same script ------------------------------

def serve_orderpay(port: int) -> None:
    import uvicorn

    from payment_core.logs import configure_logging
    from orderpay import create_server  # as `orderpay serve` builds it

    settings = Settings(port=port)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(create_server(settings), host="127.0.0.1", port=port, log_config=None, access_log=False)


def serve_bare(port: int, *, read_store: bool) -> None:
    """A bare MCPServer whose tool returns the sample JSON or, with `read_store`, reads the reservation
    through orderpay's store as alice (no token, no REST stack): the floor, and the floor plus the read."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from payment_core.runtime import Runtime

    body = json.loads(Path(os.environ["BENCH_BODY_FILE"]).read_text())
    store = Runtime.create(Settings()).store("reservation")
    alice = find_demo_user("alice")
    assert alice is not None
    server = MCPServer("bare", log_level="WARNING")

    @server.tool(name=TOOL)
    async def get_reservation(reservationId: str) -> dict[str, Any]:  # noqa: N803 (the tool's argument name)
        return {"reservation": await store.get(alice.as_session(), reservationId)} if read_store else body

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = server.streamable_http_app(stateless_http=True, json_response=True,
                                     transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


SERVERS = {
    "floor": lambda port: serve_bare(port, read_store=False),
    "floor+store": lambda port: serve_bare(port, read_store=True),
    "orderpay": serve_orderpay,
}


def start(kind: str, env: dict[str, str], ready_path: str) -> ServerProcess:
    port = free_port()
    return ServerProcess([python(), str(Path(__file__).resolve()), "--serve", kind, "--port", str(port)],
                         port=port, ready_path=ready_path, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--quick", action="store_true", help="small counts: checks the benchmark runs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--serve", choices=list(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        SERVERS[args.serve](args.port)
        return 0
    requests = 200 if args.quick else args.requests
    rounds = 1 if args.quick else 4

    alice = find_demo_user("alice")
    assert alice is not None
    runs: dict[tuple[str, int], list[LoadResult]] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(app="airbnb", data_dir=Path(data_dir), demo_data=False)
        ids = asyncio.run(populate(settings, 1_000, alice.user_id))
        token = dev_issuer(settings).issue(alice)
        env = {"ORDERPAY_APP": "airbnb", "ORDERPAY_DATA_DIR": data_dir, "ORDERPAY_DEMO_DATA": "false",
               "ORDERPAY_LOG_LEVEL": "WARNING", "BENCH_BODY_FILE": str(Path(data_dir) / "body.json")}
        orderpay = start("orderpay", env, "/health/ready")
        servers = {"orderpay": orderpay}
        try:
            sample = httpx.post(f"{orderpay.base_url}/mcp", content=call_body(0, ids[0]), headers=call_headers(token))
            Path(env["BENCH_BODY_FILE"]).write_text(json.dumps(sample.json()["result"]["structuredContent"]))
            for kind in ("floor", "floor+store"):
                servers[kind] = start(kind, env, "/health")
            # Interleave short rounds of every server so that machine noise falls on all alike. The REST GET
            # of the same records from the same orderpay server is the reference for what the read costs there.
            share = requests // rounds
            for _ in range(rounds):
                for concurrency in (1, 8):
                    for kind, server in servers.items():
                        runs.setdefault((kind, concurrency), []).append(
                            measure(server.base_url, ids, share, token if kind == "orderpay" else None, concurrency))
                    runs.setdefault(("rest", concurrency), []).append(
                        measure_rest(orderpay.base_url, ids, share, token, RESERVATIONS, concurrency))
        finally:
            for server in servers.values():
                server.stop()
    results = {key: combined(value) for key, value in runs.items()}

    def row(label: str, kind: str) -> str:
        one, busy = results[(kind, 1)], results[(kind, 8)]
        return f"| {label} | {one.p50:.2f} | {one.p99:.2f} | {one.throughput:.0f} | {busy.throughput:.0f} |"

    ratio = results[("orderpay", 8)].throughput / results[("floor", 8)].throughput
    table = "\n".join([
        "| server | p50 ms | p99 ms | calls/s, 1 in flight | calls/s, 8 in flight |",
        "|---|---|---|---|---|",
        row("bare MCPServer, tool returns the same JSON (the SDK's floor)", "floor"),
        row("bare MCPServer, tool reads the reservation from orderpay's store", "floor+store"),
        row(f"orderpay `{TOOL}` (bearer token, store, 1,000 rows)", "orderpay"),
        row("orderpay REST GET of the same reservations", "rest"),
    ])
    summary = (f"throughput ratio orderpay / bare MCPServer (8 in flight) = **{ratio:.2f}** (target >= 0.9); "
               f"1 in flight: {results[('orderpay', 1)].throughput / results[('floor', 1)].throughput:.2f}; "
               f"against the floor plus the store read: "
               f"{results[('orderpay', 8)].throughput / results[('floor+store', 8)].throughput:.2f} (8 in flight)")
    print(table)
    print(summary)
    if not args.no_write:
        write_section("mcp_tools", "\n\n".join([
            "## MCP: a get-order tool call (`bench/mcp_tools.py`)",
            f"SQLite, airbnb spec, random ids, stateless streamable HTTP with JSON responses, keep-alive HTTP/1.1, "
            f"the official client's 2026-07-28 request bytes; {requests} calls per server one at a time (latency) and "
            f"{requests} with 8 in flight (throughput), in {rounds} interleaved rounds. On each call orderpay checks the "
            f"bearer token (a verified token is trusted again for up to a minute) and reads the reservation from the "
            f"store. Servers in their own processes, the load (httpx) from a third. Machine: {machine_line()}.",
            table, summary,
        ]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
