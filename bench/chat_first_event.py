"""1,000 chat turns at once: p99 time to the first event against a bare sse-starlette endpoint
sending the same events (target: ratio <= 1.5), rounds alternating in the same run.

orderpay: `POST /api/chat/stream` with the offline assistant (a zero-latency scripted provider;
"list my orders" is one listOrders call over MCP and an answer), 100 users, each turn on its own
connection. The floor (`bench/bare_sse.py`) sends at once the events one real turn sent, with no
auth, storage, model or tools.

    .venv/bin/python bench/chat_first_event.py            # full run, writes docs/performance.md
    .venv/bin/python bench/chat_first_event.py --quick --no-write
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chat_stream import MESSAGE, concurrent  # noqa: E402
from bench.harness import ServerProcess, free_port, machine_line, python, write_section  # noqa: E402
from payment_core.identity import Session  # noqa: E402
from payment_core.runtime import dev_issuer  # noqa: E402
from payment_core.settings import Settings  # noqa: E402


def capture(base_url: str, token: str) -> list[dict[str, str]]:
    """The events of one real turn, as {event, id, data}."""
    events: list[dict[str, str]] = []
    frame: dict[str, str] = {}
    with httpx.stream("POST", base_url + "/api/chat/stream", json={"message": MESSAGE},
                      headers={"Authorization": f"Bearer {token}"}, timeout=60) as response:
        for line in response.iter_lines():
            if not line:
                if "event" in frame:
                    events.append(frame)
                frame = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                frame[field] = value[1:] if value.startswith(" ") else value
    assert events and events[-1]["event"] == "done", events
    return events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1000, help="turns streaming at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small counts: checks the benchmark runs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    turns, rounds, users = (100, 1, 10) if args.quick else (args.turns, args.rounds, 100)

    ours, bare, ours_done = [], [], []
    with tempfile.TemporaryDirectory() as data_dir:
        issuer = dev_issuer(Settings(data_dir=Path(data_dir)))
        tokens = [issuer.issue(Session(user_id=str(uuid.uuid4()), email=f"user{n}@example.com", full_name=f"User {n}",
                                       roles=())) for n in range(users)]
        port = free_port()
        server = ServerProcess([python(), str(Path(__file__).resolve().parent / "chat_stream.py"), "--serve", "--port",
                                str(port)], port=port, ready_path="/health/ready",
                               env={"ORDERPAY_DATA_DIR": data_dir, "ORDERPAY_LOG_LEVEL": "WARNING",
                                    "ORDERPAY_CHAT_PROVIDER": "offline"})
        floor = None
        try:
            events_file = Path(data_dir) / "events.json"
            events_file.write_text(json.dumps(capture(server.base_url, tokens[0])))
            port = free_port()
            floor = ServerProcess([python(), "-m", "uvicorn", "bench.bare_sse:app", "--port", str(port), "--log-level",
                                   "warning", "--no-access-log", "--backlog", "4096"], port=port, ready_path="/health",
                                  env={"BENCH_SSE_EVENTS": str(events_file)})
            asyncio.run(concurrent(floor.base_url, tokens, min(50, turns)))  # warm-up
            asyncio.run(concurrent(server.base_url, tokens, min(50, turns)))
            for _ in range(rounds):
                bare.append(asyncio.run(concurrent(floor.base_url, tokens, turns))[0].p99)
                first, done = asyncio.run(concurrent(server.base_url, tokens, turns))
                ours.append(first.p99)
                ours_done.append(done.seconds)
        finally:
            if floor is not None:
                floor.stop()
            server.stop()

    per_round = [o / f for o, f in zip(ours, bare)]
    ratio = statistics.median(per_round)
    table = "\n".join([
        "| endpoint | p99 first event ms, median (range) |", "|---|---|",
        f"| bare sse-starlette, same events | {statistics.median(bare):.0f} ({min(bare):.0f}–{max(bare):.0f}) |",
        f"| orderpay `/api/chat/stream` | {statistics.median(ours):.0f} ({min(ours):.0f}–{max(ours):.0f}) |"])
    summary = (f"{turns:,} turns at once: p99 first event ratio orderpay / bare = **{ratio:.2f}** (per round "
               f"{min(per_round):.2f}–{max(per_round):.2f}; target <= 1.5); orderpay's turns all done in "
               f"{statistics.median(ours_done):.1f} s (median of rounds)")
    print(table)
    print(summary)
    if not args.no_write and not args.quick:
        write_section("chat_first_event", "\n\n".join([
            "## Chat: first event with 1,000 turns at once, against a bare SSE endpoint (`bench/chat_first_event.py`)",
            f"{turns:,} streamed turns at once from {users} users (each turn on its own connection), {rounds} rounds "
            f"alternating between a bare sse-starlette endpoint (`bench/bare_sse.py`) that sends at once the events "
            f"one real turn sent, and orderpay (SQLite, store app, the offline assistant: one listOrders call over MCP "
            f"and an answer). Servers in their own processes, the load (httpx) from a third. Machine: "
            f"{machine_line()}; measured while other test runs loaded the machine (load average about 10–15 on 2 "
            f"cores): absolute times are high and noisy, the ratio comes from rounds run side by side.",
            table, summary]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
