"""GET one order over HTTP: orderpay against a bare FastAPI endpoint returning the same JSON
(target: p50 ratio <= 1.3, issue 17), and orderpay's get at 100,000 rows against 1,000 rows (target <= 1.2).

    .venv/bin/python bench/rest_orders.py            # full run, writes docs/performance.md
    .venv/bin/python bench/rest_orders.py --quick --no-write
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LoadResult, ServerProcess, combined, free_port, machine_line, python, run_load, write_section  # noqa: E402
from payment_core.identity import find_demo_user  # noqa: E402
from payment_core.runtime import Runtime, dev_issuer  # noqa: E402
from payment_core.settings import Settings  # noqa: E402

RESERVATIONS = "/bookingmanagement-api/v1/reservations"
ROUNDS = 8  # alternating rounds of orderpay and the bare endpoint


async def populate(settings: Settings, rows: int, owner: str) -> list[str]:
    """Insert `rows` reservations owned by `owner` straight into the database; returns their ids."""
    runtime = Runtime.create(settings)
    await runtime.start()
    table = runtime.store("reservation").table
    now = datetime.now(timezone.utc)
    ids: list[str] = []
    try:
        for start in range(0, rows, 5000):
            batch = []
            for i in range(start, min(rows, start + 5000)):
                record_id = uuid.uuid4()
                ids.append(str(record_id))
                batch.append({
                    "id": record_id, "listingId": uuid.uuid4(), "guestId": uuid.UUID(owner), "_owner": uuid.UUID(owner),
                    "checkIn": now + timedelta(days=i % 300), "checkOut": now + timedelta(days=i % 300 + 3),
                    "currency": "USD", "totalPrice": 100 + i % 900, "guestCount": 2, "bookingStatus": "pending",
                    "approvalType": "instant", "disputeStatus": "none", "_paymentConfirmation": "pending",
                    "isActive": True, "recordVersion": 1, "createdAt": now, "updatedAt": now,
                })
            async with runtime.engine.begin() as conn:
                await conn.execute(table.insert(), batch)
    finally:
        await runtime.close()
    return ids


def start_orderpay(data_dir: Path) -> ServerProcess:
    port = free_port()
    return ServerProcess(
        [python(), "-m", "orderpay", "serve", "--app", "airbnb", "--port", str(port)],
        port=port, ready_path="/health/ready",
        env={"ORDERPAY_DATA_DIR": str(data_dir), "ORDERPAY_DEMO_DATA": "false", "ORDERPAY_LOG_LEVEL": "WARNING"},
    )


def measure(base_url: str, ids: list[str], requests: int, token: str, path: str = RESERVATIONS,
            concurrency: int = 1) -> LoadResult:
    """Latency with one request at a time (concurrency 1), throughput with several in flight."""
    urls = [f"{base_url}{path}/{random.choice(ids)}" for _ in range(requests)]
    headers = {"Authorization": f"Bearer {token}"}
    run_load(urls[: max(50, requests // 10)], headers=headers, concurrency=concurrency)  # warm-up
    return run_load(urls, headers=headers, concurrency=concurrency)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--quick", action="store_true", help="small counts: checks the benchmark runs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    requests = 200 if args.quick else args.requests
    large_rows = 5_000 if args.quick else 100_000

    alice = find_demo_user("alice")
    assert alice is not None
    with tempfile.TemporaryDirectory() as small_dir, tempfile.TemporaryDirectory() as large_dir:
        small = Settings(app="airbnb", data_dir=Path(small_dir), demo_data=False)
        large = Settings(app="airbnb", data_dir=Path(large_dir), demo_data=False)
        small_ids = asyncio.run(populate(small, 1_000, alice.user_id))
        large_ids = asyncio.run(populate(large, large_rows, alice.user_id))
        token_small = dev_issuer(small).issue(alice)
        token_large = dev_issuer(large).issue(alice)

        orderpay = start_orderpay(Path(small_dir))
        body_file = Path(small_dir) / "body.json"
        import httpx

        sample = httpx.get(f"{orderpay.base_url}{RESERVATIONS}/{small_ids[0]}",
                           headers={"Authorization": f"Bearer {token_small}"}).json()
        body_file.write_text(json.dumps(sample))
        bare_port = free_port()
        bare = ServerProcess([python(), "-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port),
                              "--log-level", "warning", "--no-access-log"],
                             port=bare_port, ready_path="/health", env={"BENCH_BODY_FILE": str(body_file)})
        try:
            # Alternate the two in short rounds so that the machine's drifts (a shared VM's speed
            # moves by a third within a minute) fall on both alike.
            runs_orderpay, runs_bare = [], []
            ours_cpu, bare_cpu = orderpay.cpu_ms(), bare.cpu_ms()
            for _ in range(ROUNDS):
                runs_orderpay.append(measure(orderpay.base_url, small_ids, requests // ROUNDS, token_small))
                runs_bare.append(measure(bare.base_url, small_ids, requests // ROUNDS, token_small, path="/orders"))
            # Each round's warm-up (a tenth of its requests, at least 50) is counted in the CPU as well.
            served = ROUNDS * (requests // ROUNDS + max(50, requests // ROUNDS // 10))
            ours_cpu, bare_cpu = (orderpay.cpu_ms() - ours_cpu) / served, (bare.cpu_ms() - bare_cpu) / served
            busy_orderpay = measure(orderpay.base_url, small_ids, requests, token_small, concurrency=8)
            busy_bare = measure(bare.base_url, small_ids, requests, token_small, path="/orders", concurrency=8)
        finally:
            bare.stop()
            orderpay.stop()
        ours, base = combined(runs_orderpay), combined(runs_bare)

        # Both sizes served at once and measured in alternating rounds, like the comparison above.
        big, small_again = start_orderpay(Path(large_dir)), start_orderpay(Path(small_dir))
        try:
            runs_large, runs_small = [], []
            for _ in range(4):
                runs_large.append(measure(big.base_url, large_ids, requests // 4, token_large))
                runs_small.append(measure(small_again.base_url, small_ids, requests // 4, token_small))
        finally:
            big.stop()
            small_again.stop()
        at_large, at_small = combined(runs_large), combined(runs_small)

    ratio = ours.p50 / base.p50
    per_round = sorted(o.p50 / b.p50 for o, b in zip(runs_orderpay, runs_bare))
    scale = at_large.p50 / at_small.p50
    table = "\n".join([
        "| server | p50 ms | p99 ms | requests/s, 1 in flight | requests/s, 8 in flight |",
        "|---|---|---|---|---|",
        f"| bare FastAPI, same JSON | {base.p50:.2f} | {base.p99:.2f} | {base.throughput:.0f} | {busy_bare.throughput:.0f} |",
        f"| orderpay GET reservation (1,000 rows) | {ours.p50:.2f} | {ours.p99:.2f} | {ours.throughput:.0f} | {busy_orderpay.throughput:.0f} |",
        f"| orderpay GET reservation ({large_rows:,} rows) | {at_large.p50:.2f} | {at_large.p99:.2f} | {at_large.throughput:.0f} | |",
        f"| orderpay GET reservation (1,000 rows, same pass) | {at_small.p50:.2f} | {at_small.p99:.2f} | {at_small.throughput:.0f} | |",
    ])
    summary = (f"p50 ratio orderpay / bare = **{ratio:.2f}** (per round {per_round[0]:.2f}–{per_round[-1]:.2f}; "
               f"target <= 1.3; server CPU per GET {ours_cpu * 1000:.0f} µs / {bare_cpu * 1000:.0f} µs); "
               f"p50 at {large_rows:,} rows / 1,000 rows = **{scale:.2f}** (target <= 1.2)")
    print(table)
    print(summary)
    if not args.no_write and not args.quick:
        write_section("rest_orders", "\n\n".join([
            "## REST: GET one order (`bench/rest_orders.py`)",
            f"SQLite, airbnb spec, random ids, keep-alive HTTP/1.1; {requests} requests per server one at a time "
            f"(latency), then {requests} with 8 in flight (throughput). Servers in their own processes, the load "
            f"(httpx) from a third. Machine: {machine_line()}.",
            table, summary,
        ]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
