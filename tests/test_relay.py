"""The outbox relay never stops: a subscriber that always fails is dead-lettered while other
events flow; an order's events leave in order; the backoff stays bounded after thousands of
failures; one row's bookkeeping error does not hold the others; several relays on one
PostgreSQL database deliver each event exactly once.

The real relay runs against real SQLite and PostgreSQL outbox tables. Faults come from the
subscribers (code of the test's own, the seam the relay delivers through), from rows set up in
the database (attempt counts, a dead relay's lease), and from a database trigger refusing one
row's bookkeeping — never from patching the relay.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, Table, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from payment_core.db import Database, create_database
from orderpay import build_runtime
from payment_core.events import insert_events, outbox_table, write_event
from payment_core.relay import OutboxRelay, backoff_seconds
from payment_core.settings import Settings
from tests.conftest import BACKENDS
from tests.support import database_of_its_own, drop_postgres, free_port, prepare_postgres, run_async, start_uvicorn

DEAD_LETTERS = "shop-orderpay-outbox-deadlettered"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An outbox of this test's own: a SQLite file, or a PostgreSQL database beside the run's."""
    yield from database_of_its_own(request, tmp_path, "relay")


@asynccontextmanager
async def outbox_at(url: str) -> AsyncIterator[tuple[Database, Table]]:
    db = create_database(url)
    table = outbox_table(MetaData())
    async with db.engine.begin() as conn:
        await conn.run_sync(table.metadata.drop_all)
        await conn.run_sync(table.metadata.create_all)
    try:
        yield db, table
    finally:
        await db.dispose()


def fast_relay(db: Database, table: Table, **options: Any) -> OutboxRelay:
    """A relay with short backoffs, so a test sees many attempts in little time."""
    defaults: dict[str, Any] = {"base_backoff_seconds": 0.01, "max_backoff_seconds": 0.02, "idle_seconds": 0.01,
                                "dead_letter_topic": DEAD_LETTERS}
    return OutboxRelay(db, table, **{**defaults, **options})


async def emit(engine: AsyncEngine, table: Table, topic: str, key: str | None, **payload: Any) -> str:
    async with engine.begin() as conn:
        return str(await write_event(conn, table, topic, payload, key=key))


async def rows_by_id(engine: AsyncEngine, table: Table) -> dict[str, Any]:
    async with engine.connect() as conn:
        return {str(row.id): row for row in (await conn.execute(select(table))).all()}


async def until(condition: Any, relay: OutboxRelay, *, passes: int = 400) -> None:
    """Run the relay pass after pass until `condition()` holds."""
    for _ in range(passes):
        if await condition():
            return
        await relay.run_once()
        await asyncio.sleep(0.005)
    raise AssertionError("the relay did not get there")


@dataclass
class Subscriber:
    """Records what it receives; fails for the event ids in `failing` (forever, or `times` times)."""

    received: list[dict[str, Any]] = field(default_factory=list)
    failing: dict[str, int] = field(default_factory=dict)  # event id -> failures left (-1: always)

    async def __call__(self, event: dict[str, Any]) -> None:
        left = self.failing.get(event["eventId"], 0)
        if left:
            self.failing[event["eventId"]] = left - 1 if left > 0 else left
            raise RuntimeError(f"subscriber refuses {event['eventId']}")
        self.received.append(event)

    def ids(self) -> list[str]:
        return [event["eventId"] for event in self.received]


def test_a_poison_subscriber_is_dead_lettered_while_other_events_flow(database_url: str,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    async def story() -> None:
        async with outbox_at(database_url) as (db, table):
            poison, healthy, operators = Subscriber(), Subscriber(), Subscriber()
            relay = fast_relay(db, table, max_attempts=4)
            relay.subscribe({"order-paid"}, poison, name="poison")
            relay.subscribe({"order-paid"}, healthy, name="healthy")
            relay.subscribe({DEAD_LETTERS}, operators, name="operators")
            bad = await emit(db.engine, table, "order-paid", "order-1", n=0)
            poison.failing[bad] = -1
            others = [await emit(db.engine, table, "order-paid", f"order-{n}", n=n) for n in range(2, 7)]

            async def dead() -> bool:
                return (await rows_by_id(db.engine, table))[bad].deadAt is not None

            with caplog.at_level(logging.ERROR, logger="orderpay.relay"):
                await until(dead, relay)
                await until(lambda: asyncio.sleep(0, bool(operators.received)), relay)

            rows = await rows_by_id(db.engine, table)
            assert rows[bad].attempts == 4 and rows[bad].publishedAt is None
            assert "subscriber:poison" in rows[bad].lastError and "refuses" in rows[bad].lastError
            assert rows[bad].deliveredTo == ["subscriber:healthy"]  # tracked per subscriber
            assert sorted(poison.ids()) == sorted(others)
            assert healthy.ids().count(bad) == 1, "the healthy subscriber got it once, not on every retry"
            assert sorted(healthy.ids()) == sorted([bad, *others])
            assert all(rows[event].publishedAt is not None for event in others)
            [announcement] = operators.received
            assert announcement["deadLetter"]["eventId"] == bad
            assert announcement["deadLetter"]["failedTargets"] == ["subscriber:poison"]
            assert announcement["deadLetter"]["attempts"] == 4 and announcement["deadLetter"]["key"] == "order-1"
            assert any("dead-lettered" in r.getMessage() and getattr(r, "eventId", None) == bad for r in caplog.records)
            backlog = await relay.backlog()
            assert (backlog.pending, backlog.dead) == (0, 1)
            assert relay.stats.dead_lettered == 1 and relay.stats.retried == 3

            # A dead letter is kept, not retried by itself; once the subscriber is fixed it can be requeued.
            await relay.run_once()
            assert poison.ids().count(bad) == 0
            poison.failing.clear()
            assert await relay.requeue_dead([uuid.UUID(bad)]) == 1
            await until(lambda: asyncio.sleep(0, bad in poison.ids()), relay)
            assert healthy.ids().count(bad) == 1

    run_async(story())


def test_a_failing_event_holds_back_its_orders_later_events_but_not_other_orders(database_url: str) -> None:
    async def story() -> None:
        async with outbox_at(database_url) as (db, table):
            edge = Subscriber()
            relay = fast_relay(db, table, max_attempts=50, base_backoff_seconds=0.05, max_backoff_seconds=0.05)
            relay.subscribe({"order-started", "order-paid"}, edge, name="edge")
            a_started = await emit(db.engine, table, "order-started", "order-a")
            a_paid = await emit(db.engine, table, "order-paid", "order-a")
            b_started = await emit(db.engine, table, "order-started", "order-b")
            b_paid = await emit(db.engine, table, "order-paid", "order-b")
            edge.failing[a_started] = -1

            await relay.run_once()  # order a's first event fails and backs off
            for _ in range(10):  # passes while it fails and backs off: order b goes on, order a's later event waits
                await relay.run_once()
                await asyncio.sleep(0.02)
            assert edge.ids() == [b_started, b_paid]
            rows = await rows_by_id(db.engine, table)
            assert rows[a_paid].publishedAt is None and rows[a_paid].attempts == 0
            assert rows[a_started].attempts >= 2, "retried meanwhile"

            del edge.failing[a_started]  # the subscriber recovers
            await until(lambda: asyncio.sleep(0, a_paid in edge.ids()), relay)
            assert edge.ids() == [b_started, b_paid, a_started, a_paid]

            # A dead-lettered event no longer holds its order back (the relay would stop for that order).
            c_started = await emit(db.engine, table, "order-started", "order-c")
            c_paid = await emit(db.engine, table, "order-paid", "order-c")
            edge.failing[c_started] = -1
            relay.max_attempts = 2
            await until(lambda: asyncio.sleep(0, c_paid in edge.ids()), relay)
            assert (await rows_by_id(db.engine, table))[c_started].deadAt is not None

    run_async(story())


def test_the_backoff_stays_bounded_after_2000_failures(database_url: str) -> None:
    async def story() -> None:
        async with outbox_at(database_url) as (db, table):
            edge = Subscriber()
            relay = OutboxRelay(db, table, max_attempts=10_000, max_backoff_seconds=60)
            relay.subscribe({"order-paid"}, edge, name="edge")
            stuck = await emit(db.engine, table, "order-paid", "order-1")
            edge.failing[stuck] = -1
            async with db.engine.begin() as conn:  # 2,000 failures already behind it, due now
                await conn.execute(update(table).where(table.c.id == uuid.UUID(stuck)).values(attempts=2000))
            fresh = await emit(db.engine, table, "order-paid", "order-2")

            before = datetime.now(timezone.utc)
            await relay.run_once()

            assert edge.ids() == [fresh], "the relay kept delivering"
            row = (await rows_by_id(db.engine, table))[stuck]
            assert row.attempts == 2001 and row.deadAt is None
            available = row.availableAt if row.availableAt.tzinfo else row.availableAt.replace(tzinfo=timezone.utc)
            assert timedelta(seconds=59) <= available - before <= timedelta(seconds=62)
            assert backoff_seconds(10**9) == 60.0 and backoff_seconds(1) == 0.5 and backoff_seconds(3) == 2.0

    run_async(story())


def test_a_pass_claims_at_most_a_batch_and_leaves_the_rest_to_the_next(database_url: str) -> None:
    """The claim leases `batch_size` rows and no more: the rest stay free for other replicas."""
    async def story() -> None:
        async with outbox_at(database_url) as (db, table):
            edge = Subscriber()
            relay = fast_relay(db, table, batch_size=5)
            relay.subscribe({"order-paid"}, edge, name="edge")
            events = [await emit(db.engine, table, "order-paid", f"order-{n}") for n in range(12)]

            assert await relay.run_once() == 5
            rows = await rows_by_id(db.engine, table)
            assert edge.ids() == events[:5], "the oldest five, each once"
            assert [event for event in events if rows[event].publishedAt is not None] == events[:5]
            assert all(rows[event].claimedBy is None for event in events), "the rest were never leased"
            assert await relay.run_once() == 5 and await relay.run_once() == 2
            assert edge.ids() == events

    run_async(story())


REFUSE_BOOKKEEPING = {
    "sqlite": ["""CREATE TRIGGER refuse_bookkeeping BEFORE UPDATE ON sys_outbox
                  WHEN NEW.topic = 'bookkeeping-fails' AND NEW."publishedAt" IS NOT NULL
                  BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"""],
    "postgresql": ["""CREATE OR REPLACE FUNCTION refuse_bookkeeping() RETURNS trigger AS $$
                      BEGIN
                        IF NEW.topic = 'bookkeeping-fails' AND NEW."publishedAt" IS NOT NULL THEN
                          RAISE EXCEPTION 'refused by the test';
                        END IF;
                        RETURN NEW;
                      END $$ LANGUAGE plpgsql""",
                   """CREATE TRIGGER refuse_bookkeeping BEFORE UPDATE ON sys_outbox
                      FOR EACH ROW EXECUTE FUNCTION refuse_bookkeeping()"""],
}


def test_one_rows_bookkeeping_error_does_not_block_the_others(database_url: str) -> None:
    async def story() -> None:
        async with outbox_at(database_url) as (db, table):
            async with db.engine.begin() as conn:  # the database refuses to mark this one row published
                for statement in REFUSE_BOOKKEEPING[db.engine.dialect.name]:
                    await conn.execute(text(statement))
            edge = Subscriber()
            relay = fast_relay(db, table)
            relay.subscribe({"bookkeeping-fails", "order-paid"}, edge, name="edge")
            broken = await emit(db.engine, table, "bookkeeping-fails", "order-1")
            fine = [await emit(db.engine, table, "order-paid", f"order-{n}") for n in range(2, 6)]

            await relay.run_once()

            rows = await rows_by_id(db.engine, table)
            assert all(rows[event].publishedAt is not None for event in fine)
            assert edge.ids() == [broken, *fine]
            assert rows[broken].publishedAt is None and rows[broken].attempts == 1  # counted, retried later
            assert relay.stats.bookkeeping_errors == 1 and relay.stats.delivered == 4

    run_async(story())


# -- several relays on one PostgreSQL database ------------------------------------------------


@dataclass
class CountingEdgeFunction:
    """An edge function behind real HTTP that counts each event it gets, and each overlap."""

    deliveries: list[tuple[str, str, str]] = field(default_factory=list)  # (eventId, order, relay)
    in_flight: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)

    async def endpoint(self, request: Request) -> JSONResponse:
        event = await request.json()
        if event["eventId"] in self.in_flight:
            self.overlaps.append(event["eventId"])
        self.in_flight.add(event["eventId"])
        await asyncio.sleep(0.003)  # a call that takes a moment widens any race
        self.in_flight.discard(event["eventId"])
        self.deliveries.append((event["eventId"], event["order"], request.headers["x-relay"]))
        return JSONResponse({"status": 200})


@pytest.mark.postgres
def test_two_relays_on_postgresql_deliver_each_event_exactly_once(postgres_url: str) -> None:
    base = make_url(postgres_url)
    url = base.set(database=f"{base.database}_relay").render_as_string(hide_password=False)
    prepare_postgres(url)
    counter = CountingEdgeFunction()
    port = free_port()
    server, thread = start_uvicorn(Starlette(routes=[Route("/edge", counter.endpoint, methods=["POST"])]), port)
    try:
        run_async(two_relays(url, f"http://127.0.0.1:{port}/edge", counter))
    finally:
        server.should_exit = True
        thread.join(10)
        drop_postgres(url)


def http_edge_function(url: str, relay_name: str, client: httpx.AsyncClient) -> Any:
    async def call(event: dict[str, Any]) -> None:
        (await client.post(url, json=event, headers={"x-relay": relay_name})).raise_for_status()
    return call


async def two_relays(url: str, edge_url: str, counter: CountingEdgeFunction) -> None:
    async with outbox_at(url) as (db, table):
        other_db = create_database(url)  # the second replica: its own engines and connections
        try:
            events: list[str] = []
            keys = [f"order-{n}" for n in range(25)]
            for round_ in range(8):
                for key in keys:
                    events.append(await emit(db.engine, table, "order-paid", key, order=key, round=round_))
            # A relay killed mid-delivery left a lease that has expired (taken over), and a live relay
            # holds one that has not (left alone while it lasts).
            expired = await emit(db.engine, table, "order-paid", None, order="expired")
            held = await emit(db.engine, table, "order-paid", None, order="held")
            async with db.engine.begin() as conn:
                now = datetime.now(timezone.utc)
                await conn.execute(update(table).where(table.c.id == uuid.UUID(expired)).values(
                    claimedBy="relay-killed", claimedUntil=now - timedelta(seconds=1)))
                await conn.execute(update(table).where(table.c.id == uuid.UUID(held)).values(
                    claimedBy="relay-alive", claimedUntil=now + timedelta(minutes=5)))

            async with httpx.AsyncClient(timeout=10) as client:
                relays = []
                for name, relay_db in (("one", db), ("two", other_db)):
                    relay = OutboxRelay(relay_db, table, batch_size=7, idle_seconds=0.005)
                    relay.subscribe({"order-paid"}, http_edge_function(edge_url, name, client), name="edge")
                    relays.append(relay)
                async with relays[0].running(), relays[1].running():
                    for _ in range(600):
                        if (await relays[0].backlog()).pending <= 1:
                            break
                        await asyncio.sleep(0.05)

            delivered = [event for event, _, _ in counter.deliveries]
            assert sorted(delivered) == sorted([*events, expired]), "each event exactly once"
            assert counter.overlaps == []
            assert {relay for _, _, relay in counter.deliveries} == {"one", "two"}, "both replicas shared the work"
            for key in keys:  # and each order's events in the order they were written
                rounds = [r for event, k, _ in counter.deliveries if k == key for r in [events.index(event) // 25]]
                assert rounds == sorted(rounds) == list(range(8)), key
            rows = await rows_by_id(db.engine, table)
            assert rows[held].publishedAt is None and rows[held].claimedBy == "relay-alive"
            assert rows[expired].publishedAt is not None
        finally:
            await other_db.dispose()


def test_a_subscriber_that_hangs_times_out_without_holding_the_others(database_url: str) -> None:
    async def story() -> None:
        async with outbox_at(database_url) as (db, table):
            edge = Subscriber()
            stuck: list[str] = []

            async def hangs(event: dict[str, Any]) -> None:
                if event["order"] == "order-1":
                    stuck.append(event["eventId"])
                    await asyncio.sleep(3600)  # an edge function that never answers
                await edge(event)

            relay = fast_relay(db, table, lease_seconds=1.0)  # so a delivery times out after 0.5 s
            relay.subscribe({"order-paid"}, hangs, name="hangs")
            hung = await emit(db.engine, table, "order-paid", "order-1", order="order-1")
            others = [await emit(db.engine, table, "order-paid", f"order-{n}", order=f"order-{n}") for n in range(2, 8)]

            started = asyncio.get_running_loop().time()
            assert await relay.run_once() == 6
            assert asyncio.get_running_loop().time() - started < 2
            assert sorted(edge.ids()) == sorted(others) and stuck == [hung]
            row = (await rows_by_id(db.engine, table))[hung]
            assert row.publishedAt is None and row.attempts == 1 and "TimeoutError" in row.lastError

    run_async(story())


def test_a_commit_that_wrote_events_wakes_the_idle_relay_at_once(database_url: str) -> None:
    async def story() -> None:
        db = create_database(database_url)
        table = outbox_table(MetaData())
        async with db.engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
            await conn.run_sync(table.metadata.create_all)
        edge = Subscriber()
        relay = fast_relay(db, table, idle_seconds=60)  # its poll would come a minute later
        relay.subscribe({"order-paid"}, edge, name="edge")
        db.after_write.append(relay.notify)
        try:
            async with relay.running():
                await asyncio.sleep(0.3)  # the first pass found nothing: the relay waits
                first = await emit(db.engine, table, "order-paid", "order-1")
                second = await emit(db.engine, table, "order-paid", "order-2")
                started = asyncio.get_running_loop().time()

                async def published() -> bool:
                    rows = await rows_by_id(db.engine, table)
                    return all(rows[event].publishedAt is not None for event in (first, second))

                while not await published() and asyncio.get_running_loop().time() - started < 5:
                    await asyncio.sleep(0.01)
                assert await published()  # within seconds, not at the next poll a minute later
            assert sorted(edge.ids()) == sorted([first, second])
            assert all(row.attempts == 1 for row in (await rows_by_id(db.engine, table)).values())
        finally:
            await db.dispose()

    run_async(story())


def test_the_relay_holds_an_event_for_the_operators_lease_while_it_delivers_it(tmp_path: Path) -> None:
    """`ORDERPAY_RELAY_LEASE_SECONDS` is how long another replica must wait before taking over an
    event this relay is still delivering: an operator with a slow edge function raises it."""
    async def scenario() -> float:
        runtime = build_runtime(Settings(data_dir=tmp_path, demo_data=False, relay_lease_seconds=240))
        await runtime.start()
        delivering, release = asyncio.Event(), asyncio.Event()

        async def slow_edge_function(event: dict[str, Any]) -> None:
            delivering.set()
            await release.wait()

        try:
            runtime.relay.subscribe({"lease-probe"}, slow_edge_function)
            outbox = runtime.payments.outbox
            await runtime.db.write(lambda conn: insert_events(conn, outbox, [("lease-probe", {"n": 1}, None)]))
            relay_pass = asyncio.create_task(runtime.relay.run_once())
            await asyncio.wait_for(delivering.wait(), 10)
            async with runtime.engine.connect() as conn:
                row = (await conn.execute(select(outbox).where(outbox.c.topic == "lease-probe"))).one()
            held_for = (row.claimedUntil.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)).total_seconds()
            release.set()
            assert await relay_pass == 1
            return held_for
        finally:
            await runtime.close()

    assert 230 < run_async(scenario()) <= 240
