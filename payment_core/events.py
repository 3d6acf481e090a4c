"""Payment events: rows of an outbox table, written in the same transaction as the
change they describe, under the seeds' topic names. A relay publishes them later
(at least once), so an event exists exactly when its change was committed.

An event's `key` (the order's or the record's id) orders it: the relay never delivers an
event while an earlier one of the same key is still undelivered and not dead-lettered."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Connection, DateTime, Index, Integer, MetaData, String, Table, Text, Uuid
from sqlalchemy.ext.asyncio import AsyncConnection

from payment_core.clock import utcnow
from payment_core.db import notify_after_commit
from payment_core.schema import JSON_TYPE


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "sys_outbox",
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),  # the event id subscribers deduplicate on
        Column("topic", String(255), nullable=False),
        Column("key", String(255), nullable=True),
        Column("payload", JSON_TYPE, nullable=False),
        Column("createdAt", DateTime(timezone=True), nullable=False),  # the order events of one key leave in
        Column("availableAt", DateTime(timezone=True), nullable=False),  # later after a failed delivery
        Column("publishedAt", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer(), nullable=False, default=0),
        Column("lastError", Text(), nullable=True),
        # Who already has it (subscriber and broker names): a retry goes only to the others.
        Column("deliveredTo", JSON_TYPE, nullable=True),
        # Given up after ORDERPAY_RELAY_MAX_ATTEMPTS failures; kept, announced, never retried by itself.
        Column("deadAt", DateTime(timezone=True), nullable=True),
        # A relay's lease on the row while it delivers it; a killed relay's lease simply expires.
        Column("claimedBy", String(64), nullable=True),
        Column("claimedUntil", DateTime(timezone=True), nullable=True),
    )
    Index("ix_sys_outbox_pending", table.c.publishedAt, table.c.availableAt)
    Index("ix_sys_outbox_key", table.c.key, table.c.createdAt)
    return table


class Topics:
    """The seeds' topic names for one app: `{project}-{service}-service-...`, all lowercase."""

    def __init__(self, codename: str) -> None:
        self.codename = codename.lower()

    def payment(self, service: str, object_name: str, event: str) -> str:
        """`started`, `refreshed` or `calledback` of an order object's payment."""
        return f"{self.codename}-{service.lower()}-service-{object_name.lower()}payment-{event}"

    def dbevent(self, service: str, system_object: str, event: str) -> str:
        """`created`, `updated` or `deleted` of a system object such as `sys_paymentMethod`."""
        return f"{self.codename}-{service.lower()}-service-dbevent-{system_object.lower()}-{event}"

    def dead_letter(self) -> str:
        """orderpay's own: an event the relay gave up on (its id, topic, key, attempts, last error)."""
        return f"{self.codename}-orderpay-outbox-deadlettered"


async def write_event(conn: AsyncConnection, table: Table, topic: str, payload: dict[str, Any],
                      *, key: str | None = None) -> uuid.UUID:
    return (await write_events(conn, table, [(topic, payload, key)]))[0]


async def write_events(conn: AsyncConnection, table: Table,
                       events: list[tuple[str, dict[str, Any], str | None]]) -> list[uuid.UUID]:
    """`insert_events` in an async transaction."""
    return await conn.run_sync(insert_events, table, events)


def insert_events(conn: Connection, table: Table, events: list[tuple[str, dict[str, Any], str | None]]) -> list[uuid.UUID]:
    """Several events of one change in one statement, in the caller's transaction: (topic, payload, key) each."""
    now = utcnow()
    rows = []
    for index, (topic, payload, key) in enumerate(events):
        event_id = uuid.uuid4()
        created = now + timedelta(microseconds=index)  # one change's events keep their order under one key
        rows.append({"id": event_id, "topic": topic, "key": key, "payload": {"eventId": str(event_id), **payload},
                     "createdAt": created, "availableAt": created, "attempts": 0})
    conn.execute(table.insert(), rows)  # one statement, its rows as parameters
    notify_after_commit(conn)  # the relay looks for them as soon as they are committed
    return [row["id"] for row in rows]
