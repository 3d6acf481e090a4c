"""Webhook deliveries that arrive together are stored together (`DeliveryLog`): fewer
transactions, each delivery answered only once it is stored and by its own outcome, a repeat in
the same transaction told as a repeat, and one delivery that cannot be stored failing alone.

Real SQLite and PostgreSQL through orderpay's `Database`; the store function is the test's own
(the seam the log writes through), over a table of the test's own.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, select, update

from payment_core.db import Database, create_database
from payment_core.payments.webhooks import DeliveryLog
from tests.conftest import BACKENDS
from tests.support import database_of_its_own, run_async


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_of_its_own(request, tmp_path, "deliverylog")


class Deliveries:
    """A delivery table and the store function the log is given: insert, or count a repeat;
    returns None for a first delivery, else the status stored before. It notes each call's
    transaction, and refuses an event id starting with `bad` (a delivery that cannot be stored)."""

    def __init__(self) -> None:
        self.table = Table("delivery", MetaData(), Column("eventId", String(64), primary_key=True),
                           Column("status", String(16), nullable=False), Column("deliveries", Integer(), nullable=False))
        self.transactions: list[Any] = []  # held, so that no two transactions share an id()

    def store(self, conn: Connection, event_id: str, event_type: str, payload: str, status: str) -> str | None:
        self.transactions.append(conn.get_transaction())
        if event_id.startswith("bad"):
            raise ValueError(f"cannot store {event_id}")
        earlier = conn.execute(select(self.table.c.status).where(self.table.c.eventId == event_id)).scalar()
        if earlier is None:
            conn.execute(self.table.insert().values(eventId=event_id, status=status, deliveries=1))
        else:
            conn.execute(update(self.table).where(self.table.c.eventId == event_id)
                         .values(deliveries=self.table.c.deliveries + 1))
        return earlier

    def transaction_count(self) -> int:
        return len({id(transaction) for transaction in self.transactions})


@asynccontextmanager
async def delivery_log(url: str) -> AsyncIterator[tuple[DeliveryLog, Deliveries, Database]]:
    db = create_database(url)
    deliveries = Deliveries()
    async with db.engine.begin() as conn:
        await conn.run_sync(deliveries.table.metadata.drop_all)
        await conn.run_sync(deliveries.table.metadata.create_all)
    try:
        yield DeliveryLog(db, deliveries.store), deliveries, db
    finally:
        await db.dispose()


async def rows(db: Database, deliveries: Deliveries) -> dict[str, tuple[str, int]]:
    table = deliveries.table
    found = await db.read(lambda conn: conn.execute(select(table.c.eventId, table.c.status, table.c.deliveries)).all())
    return {row.eventId: (row.status, row.deliveries) for row in found}


def test_deliveries_arriving_together_share_transactions_and_each_gets_its_own_answer(database_url: str) -> None:
    async def scenario() -> None:
        async with delivery_log(database_url) as (log, deliveries, db):
            # Twelve at once, each event twice in a row: a burst, with Stripe repeating itself.
            events = [f"evt_{i}" for i in range(6) for _ in range(2)]
            answers = await asyncio.gather(*(log.store(event, "payment_intent.succeeded", "{}", "ignored")
                                             for event in events))
            assert answers == [None, "ignored"] * 6, "the first of each is new, its repeat is told as a repeat"
            assert await rows(db, deliveries) == {f"evt_{i}": ("ignored", 2) for i in range(6)}
            assert deliveries.transaction_count() < len(events), "stored together, not one transaction each"

            # One delivery alone is written at once, in a transaction of its own.
            before = deliveries.transaction_count()
            assert await log.store("evt_alone", "charge.refunded", "{}", "received") is None
            assert deliveries.transaction_count() == before + 1
            assert (await rows(db, deliveries))["evt_alone"] == ("received", 1)

    run_async(scenario())


def test_a_delivery_that_cannot_be_stored_fails_alone(database_url: str) -> None:
    async def scenario() -> None:
        async with delivery_log(database_url) as (log, deliveries, db):
            events = ["evt_a", "bad_b", "evt_c", "evt_a", "evt_d"]
            answers = await asyncio.gather(*(log.store(event, "payment_intent.succeeded", "{}", "ignored")
                                             for event in events), return_exceptions=True)
            assert answers[0] is None and answers[2] is None and answers[4] is None
            assert answers[3] == "ignored", "the repeat, stored after the first even when retried alone"
            assert isinstance(answers[1], ValueError) and "bad_b" in str(answers[1])
            # The failed batch committed nothing, so nothing is counted twice.
            assert await rows(db, deliveries) == {"evt_a": ("ignored", 2), "evt_c": ("ignored", 1), "evt_d": ("ignored", 1)}

            # The log goes on: later deliveries are stored as before.
            assert await log.store("evt_e", "payment_intent.succeeded", "{}", "ignored") is None
            assert (await rows(db, deliveries))["evt_e"] == ("ignored", 1)

    run_async(scenario())


def test_a_caller_that_goes_away_does_not_stop_the_others_deliveries(database_url: str) -> None:
    async def scenario() -> None:
        async with delivery_log(database_url) as (log, deliveries, db):
            first = asyncio.ensure_future(log.store("evt_first", "payment_intent.succeeded", "{}", "ignored"))
            others = [asyncio.ensure_future(log.store(f"evt_{i}", "payment_intent.succeeded", "{}", "ignored"))
                      for i in range(5)]
            await asyncio.sleep(0)  # all are waiting for the log now
            others[2].cancel()  # its client hung up
            assert await first is None
            results = await asyncio.gather(*others, return_exceptions=True)
            assert isinstance(results[2], asyncio.CancelledError)
            assert [r for i, r in enumerate(results) if i != 2] == [None] * 4
            stored = await rows(db, deliveries)
            assert set(stored) == {"evt_first", *(f"evt_{i}" for i in range(5))}, "the hung-up one is stored all the same"

    run_async(scenario())
