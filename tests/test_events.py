"""Payment events reach the spec's edge function and NATS JetStream, at least once, with the
seeds' topic names — only after the change they describe was committed."""
from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import nats
import pytest
from sqlalchemy import select

from payment_core.db import create_engine
from payment_core.spec.loader import bundled_spec_path
from tests import edge_functions
from tests.conftest import start_server
from tests.support import LiveServer, run_async

ORDERS = "/ordermanagement-api/v1/orders"
# The store app under a name of this run's own: its subjects (named after the app) and its stream
# are this run's alone, so that test runs sharing one NATS server do not read each other's events.
CODENAME = f"store{os.getpid()}"
STREAM = f"orderpay-test-events-{os.getpid()}"
STARTED = f"{CODENAME}-ordermanagement-service-orderpayment-started"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
           nats_url: str) -> Iterator[LiveServer]:
    spec = bundled_spec_path("store").read_text().replace("codename: store\n", f"codename: {CODENAME}\n").replace(
        "            orderName: order\n",
        "            orderName: order\n            edgeFunctionOnStatusChange: tests.edge_functions.record\n")
    path = tmp_path_factory.mktemp("spec") / "store-with-edge-function.yaml"
    path.write_text(spec)
    run_async(drop_streams_of(nats_url, f"{CODENAME}-"))  # the other backend's, from this run
    yield from start_server(request, tmp_path_factory, backend, str(path), demo_data=False, broker_url=nats_url,
                            broker_stream=STREAM, relay_interval_seconds=0.05, relay_max_attempts=3)
    run_async(drop_streams_of(nats_url, f"{CODENAME}-"))  # leave nothing behind on the shared server


async def drop_streams_of(url: str, prefix: str) -> None:
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        for info in await js.streams_info():
            if any(subject.startswith(prefix) for subject in info.config.subjects or ()):
                await js.delete_stream(info.config.name)
    finally:
        await connection.close()


def pay_new_order(server: LiveServer, total: int) -> dict[str, Any]:
    with server.client("alice") as alice:
        order = alice.post(ORDERS, json={"totalAmount": total, "items": [{"sku": "X", "quantity": 1}]}).json()["order"]
    return pay_existing_order(server, order["id"])


def pay_existing_order(server: LiveServer, order_id: str) -> dict[str, Any]:
    with server.client("alice") as alice:
        card = alice.post("/ordermanagement-api/payment-methods/add", json={"paymentMethodId": "pm_card_visa"}).json()
        paid = alice.patch(f"/ordermanagement-api/v1/startorderpayment/{order_id}",
                           json={"paymentUserParams": {"paymentMethodId": card["paymentMethodId"]}})
        assert paid.status_code == 200 and paid.json()["order"]["_paymentConfirmation"] == "paid", paid.text
        return paid.json()["order"]


def wait_for(predicate: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_the_edge_function_gets_the_paid_order_and_the_session(server: LiveServer) -> None:
    order = pay_new_order(server, 1250)
    call = wait_for(lambda: next((r for r in edge_functions.received if r["order"]["id"] == order["id"]), None))
    assert call["topic"] == STARTED
    assert call["order"]["_paymentConfirmation"] == "paid" and call["order"]["status"] == "paid"
    assert call["session"]["userId"] == server.session("alice").user_id
    assert call["paymentResult"]["paymentIntentInfo"]["clientSecret"] is None  # secrets stay out of events
    assert uuid.UUID(call["eventId"])


def test_a_failing_edge_function_is_retried(server: LiveServer) -> None:
    edge_functions.fail_next.append(True)
    order = pay_new_order(server, 990)
    call = wait_for(lambda: next((r for r in edge_functions.received if r["order"]["id"] == order["id"]), None), 15)
    assert call["order"]["_paymentConfirmation"] == "paid"
    assert not edge_functions.fail_next


def test_events_are_published_to_nats_jetstream_once_committed(server: LiveServer) -> None:
    order = pay_new_order(server, 4321)
    outbox = server.runtime.payments.outbox

    async def unpublished() -> int:
        engine = create_engine(server.settings.resolved_database_url(CODENAME))  # the server's engine lives on its loop
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(outbox.c.id).where(outbox.c.publishedAt.is_(None),
                                                                     outbox.c.deadAt.is_(None)))).all()
        finally:
            await engine.dispose()
        return len(rows)

    wait_for(lambda: run_async(unpublished()) == 0)

    messages = run_async(read_stream(server, STARTED))
    mine = [m for m in messages if m["order"]["id"] == order["id"]]
    assert len(mine) == 1, "one transition, one event"
    assert mine[0]["order"]["_paymentConfirmation"] == "paid"
    assert mine[0]["paymentResult"]["statusLiteral"] == "success"


async def read_stream(server: LiveServer, subject: str) -> list[dict[str, Any]]:
    """Every message JetStream holds on `subject` in the server's stream."""
    connection = await nats.connect(server.settings.broker_url)
    try:
        js = connection.jetstream()
        subscription = await js.pull_subscribe(subject, stream=server.settings.broker_stream)
        messages = []
        try:
            while True:
                batch = await subscription.fetch(50, timeout=1)
                messages += [json.loads(m.data) for m in batch]
        except TimeoutError:  # no more messages (nats-py raises its own subclass or asyncio's)
            pass
        return messages
    finally:
        await connection.close()


def test_an_edge_function_that_always_fails_is_dead_lettered_and_the_rest_flows(server: LiveServer) -> None:
    with server.client("alice") as alice:
        doomed = alice.post(ORDERS, json={"totalAmount": 700, "items": []}).json()["order"]
    edge_functions.poison_orders.add(doomed["id"])
    try:
        pay_existing_order(server, doomed["id"])
        later = pay_new_order(server, 800)  # another order's events keep reaching the edge function
        wait_for(lambda: next((r for r in edge_functions.received if r["order"]["id"] == later["id"]), None))
        outbox = server.runtime.payments.outbox

        async def dead_rows() -> list[Any]:
            engine = create_engine(server.settings.resolved_database_url(CODENAME))
            try:
                async with engine.connect() as conn:
                    return list((await conn.execute(select(outbox).where(outbox.c.deadAt.is_not(None)))).all())
            finally:
                await engine.dispose()

        [dead] = wait_for(lambda: run_async(dead_rows()), 20)
        assert dead.topic == STARTED and dead.payload["order"]["id"] == doomed["id"] and dead.attempts == 3
        assert "tests.edge_functions.record" in dead.lastError
        assert f"broker:nats:{STREAM}" in dead.deliveredTo  # the broker got it; only the edge function failed
        assert not any(r["order"]["id"] == doomed["id"] for r in edge_functions.received)
        announced = wait_for(lambda: run_async(read_stream(server, f"{CODENAME}-orderpay-outbox-deadlettered")))
        assert [m["deadLetter"]["eventId"] for m in announced] == [str(dead.id)]
        assert announced[0]["deadLetter"]["failedTargets"] == ["subscriber:tests.edge_functions.record"]
    finally:
        edge_functions.poison_orders.discard(doomed["id"])
