"""Start payment over HTTP against a floor endpoint making the same SDK call on the same sandbox
(issue 17's measure: start payment p50 / floor endpoint p50, goal <= 1.3 on SQLite and <= 1.6 on
PostgreSQL; the bare SDK call is shown beside them), and webhook ingestion with deduplication
(>= 300 events/s on SQLite).

    .venv/bin/python bench/start_payment.py            # full run, writes docs/performance.md
    .venv/bin/python bench/start_payment.py --quick --no-write
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import stripe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LoadResult, ServerProcess, free_port, machine_line, python, write_section  # noqa: E402
from payment_core.identity import find_demo_user  # noqa: E402
from payment_core.runtime import dev_issuer  # noqa: E402
from payment_core.sandbox import SandboxKeys  # noqa: E402
from payment_core.settings import Settings  # noqa: E402
from tests.support import drop_postgres, prepare_postgres  # noqa: E402  (the test suite's PostgreSQL helpers)

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/orderpay_bench"
ORDERS = "/ordermanagement-api/v1/orders"
GOALS = {"SQLite": 1.3, "PostgreSQL": 1.6}  # issue 17: start payment p50 / floor endpoint p50


WEBHOOK_SECRET = "whsec_orderpay_bench"
# The standalone sandbox's keys for this run, handed to it, to orderpay and to the floor as a test rig does.
KEYS = SandboxKeys()


def start_sandbox(latency_ms: float = 0) -> ServerProcess:
    """The standalone sandbox; with `latency_ms`, a Stripe that takes that long to answer every call."""
    port = free_port()
    return ServerProcess([python(), "-m", "orderpay", "sandbox", "--memory", "--port", str(port),
                          "--latency-ms", str(latency_ms)],
                         port=port, ready_path="/_sandbox/health",
                         env={"ORDERPAY_SANDBOX_SECRET_KEY": KEYS.secret_key, "ORDERPAY_SANDBOX_PUBLISHABLE_KEY": KEYS.publishable_key,
                              "ORDERPAY_SANDBOX_WEBHOOK_SECRET": KEYS.webhook_secret})


def start_server(data_dir: Path, database_url: str | None, sandbox_url: str) -> ServerProcess:
    """orderpay configured as for real Stripe, with the standalone sandbox as that Stripe."""
    port = free_port()
    env = {"ORDERPAY_DATA_DIR": str(data_dir), "ORDERPAY_DEMO_DATA": "false", "ORDERPAY_LOG_LEVEL": "WARNING",
           "ORDERPAY_PAYMENT_ATTEMPTS_PER_MINUTE": "1000000", "ORDERPAY_STRIPE_SECRET_KEY": KEYS.secret_key,
           "ORDERPAY_STRIPE_PUBLISHABLE_KEY": KEYS.publishable_key, "ORDERPAY_STRIPE_API_BASE": sandbox_url,
           "ORDERPAY_STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET}
    if database_url:
        env["ORDERPAY_DATABASE_URL"] = database_url
    return ServerProcess([python(), "-m", "orderpay", "serve", "--app", "store", "--port", str(port)],
                         port=port, ready_path="/health/ready", env=env)


def start_floor(sandbox_url: str) -> ServerProcess:
    """A bare FastAPI endpoint making the same SDK call against the same sandbox (bench/bare_app.py)."""
    port = free_port()
    return ServerProcess([python(), "-m", "uvicorn", "bench.bare_app:app", "--port", str(port),
                          "--log-level", "warning", "--no-access-log"],
                         port=port, ready_path="/health", env={"BENCH_STRIPE_API_BASE": sandbox_url, "BENCH_STRIPE_SECRET_KEY": KEYS.secret_key})


def timed(function, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    function(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def measure_start(server: ServerProcess, floor: ServerProcess, sandbox_url: str, data_dir: Path,
                  payments: int) -> tuple[LoadResult, LoadResult, LoadResult, float, float]:
    """Alternates one orderpay start payment, one bare SDK create-and-confirm and one call of the
    floor endpoint making that SDK call, `payments` times each. Returns their latencies, then the
    CPU ms per call of orderpay's process and of the floor's."""
    alice = find_demo_user("alice")
    assert alice is not None
    token = dev_issuer(Settings(data_dir=data_dir)).issue(alice)
    http = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    sdk = stripe.StripeClient(KEYS.secret_key, base_addresses={"api": sandbox_url},
                              http_client=stripe.HTTPXClient(allow_sync_methods=True), max_network_retries=0)
    card = http.post("/ordermanagement-api/payment-methods/add", json={"paymentMethodId": "pm_card_visa"}).json()
    order_ids = [http.post(ORDERS, json={"totalAmount": 1000 + i}).json()["order"]["id"] for i in range(payments + 10)]
    customer = card["customerId"]

    def ours(order_id: str) -> None:
        response = http.patch(f"/ordermanagement-api/v1/startorderpayment/{order_id}",
                              json={"paymentUserParams": {"paymentMethodId": card["paymentMethodId"]}})
        assert response.status_code == 200 and response.json()["paymentResult"]["statusLiteral"] == "success", response.text

    def bare(amount: int) -> None:
        intent = sdk.v1.payment_intents.create({
            "amount": amount, "currency": "usd", "customer": customer, "payment_method": card["paymentMethodId"],
            "confirm": True, "payment_method_types": ["card"], "description": "bench",
            "metadata": {"orderId": str(uuid.uuid4())}}, {"idempotency_key": str(uuid.uuid4())})
        assert intent.status == "succeeded"

    floor_http = httpx.Client(base_url=floor.base_url, timeout=30)

    def through_floor(amount: int) -> None:
        response = floor_http.post("/payment-intents", json={
            "amount": amount, "currency": "usd", "customer": customer, "payment_method": card["paymentMethodId"],
            "payment_method_types": ["card"], "description": "bench", "metadata": {"orderId": str(uuid.uuid4())}})
        assert response.status_code == 200 and response.json()["status"] == "succeeded", response.text

    for order_id in order_ids[:10]:  # warm-up
        ours(order_id)
        bare(1000)
        through_floor(1000)
    ours_ms, bare_ms, floor_ms = [], [], []
    started, ours_cpu, floor_cpu = time.perf_counter(), server.cpu_ms(), floor.cpu_ms()
    for i, order_id in enumerate(order_ids[10:]):
        ours_ms.append(timed(ours, order_id))
        bare_ms.append(timed(bare, 1000 + i))
        floor_ms.append(timed(through_floor, 1000 + i))
    seconds = time.perf_counter() - started
    ours_cpu, floor_cpu = (server.cpu_ms() - ours_cpu) / payments, (floor.cpu_ms() - floor_cpu) / payments
    http.close()
    floor_http.close()
    return LoadResult(ours_ms, seconds), LoadResult(bare_ms, seconds), LoadResult(floor_ms, seconds), ours_cpu, floor_cpu


def sign(payload: bytes, secret: str) -> str:
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


async def ingest(base_url: str, secret: str, events: int, concurrency: int = 8,
                 path: str = "/ordermanagement-api/stripe-webhook") -> tuple[float, int]:
    """Posts `events` signed deliveries (every fourth a duplicate of an earlier one); returns events/s and 2xx count."""
    bodies = []
    for i in range(events):
        if i % 4 == 3:
            bodies.append(bodies[i - 1])
            continue
        event = {"id": f"evt_bench_{uuid.uuid4().hex}", "object": "event", "type": "payment_intent.succeeded",
                 "data": {"object": {"id": f"pi_bench_{i}", "object": "payment_intent", "status": "succeeded",
                                     "metadata": {"orderpayApp": "someone-else"}}}}
        bodies.append(json.dumps(event).encode())
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    ok = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

        async def worker() -> None:
            nonlocal ok
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(path, content=body,
                                             headers={"Stripe-Signature": sign(body, secret),
                                                      "Content-Type": "application/json"})
                ok += response.status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return events / (time.perf_counter() - started), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small counts: checks the benchmark runs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    payments, events = (20, 200) if args.quick else (args.payments, args.events)

    rows, ratios = [], {}
    backends = [("SQLite", None)] + ([] if args.skip_postgres or args.quick else [("PostgreSQL", POSTGRES_URL)])
    rate = 0.0
    for label, url in backends:
        if url:
            prepare_postgres(url)
        with tempfile.TemporaryDirectory() as data_dir:
            sandbox = start_sandbox()
            server = start_server(Path(data_dir), url, sandbox.base_url)
            floor = start_floor(sandbox.base_url)
            try:
                ours, bare, through_floor, ours_cpu, floor_cpu = measure_start(server, floor, sandbox.base_url,
                                                                               Path(data_dir), payments)
                if label == "SQLite":
                    rate, ok = asyncio.run(ingest(server.base_url, WEBHOOK_SECRET, events))
                    assert ok == events, f"{events - ok} webhook deliveries failed"
            finally:
                floor.stop()
                server.stop()
                sandbox.stop()
            if url:  # leave nothing behind for the next run
                drop_postgres(url)
        ratios[label] = ours.p50 / through_floor.p50
        rows.append(f"| {label} | {bare.p50:.2f} | {through_floor.p50:.2f} | {ours.p50:.2f} | {ours.p99:.2f} "
                    f"| {ours.p50 / bare.p50:.2f} | **{ratios[label]:.2f}** (goal <= {GOALS[label]}) "
                    f"| {ours_cpu:.2f} / {floor_cpu:.2f} = {ours_cpu / floor_cpu:.2f} |")

    table = "\n".join(["| database | bare SDK p50 ms | floor endpoint p50 ms | start payment p50 ms | start payment p99 ms "
                       "| ratio to the bare SDK | ratio to the floor endpoint | server CPU ms per call, orderpay / floor |",
                       "|---|---|---|---|---|---|---|---|", *rows])
    summary = (f"Issue 17's measure is start payment p50 / floor endpoint p50 (a bare FastAPI endpoint making the "
               f"same SDK call). Webhook ingestion (SQLite, signed, 1 in 4 a duplicate, 8 in flight): "
               f"**{rate:.0f} events/s** (target >= 300).")
    print(table)
    print(summary)
    if not args.no_write and not args.quick:
        write_section("start_payment", "\n\n".join([
            "## Start payment and webhooks (`bench/start_payment.py`)",
            f"`PATCH /v1/startorderpayment/{{id}}` (store app, a saved card) against the bare SDK's "
            f"`payment_intents.create(confirm=True)`, alternating, {payments} of each, one at a time. orderpay runs as "
            f"with real Stripe, the standalone sandbox (`orderpay sandbox`) being that Stripe for both; each side's "
            f"time includes the sandbox's own work (about 5 ms here; real Stripe takes hundreds). The floor endpoint "
            f"is a bare FastAPI endpoint that makes the same SDK call and nothing else (no auth, database, record or "
            f"event): what any start-payment endpoint costs before doing its own work. "
            f"Machine: {machine_line()}.",
            table, summary]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
