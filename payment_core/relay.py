"""The outbox relay: publishes committed events, at least once, to in-process subscribers
(the specs' edge functions among them) and to a message broker.

Events are claimed oldest first. On PostgreSQL each batch is locked with SKIP LOCKED,
so several replicas relay side by side without sending a row twice at the same time;
an event whose delivery fails stays in the outbox and is retried with backoff.
Subscribers must tolerate duplicates: every payload carries its `eventId`.
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("orderpay.relay")

Handler = Callable[[dict[str, Any]], Awaitable[Any] | Any]


class Publisher(Protocol):
    """A message broker as the relay sees it."""

    async def start(self) -> None: ...
    async def publish(self, topic: str, payload: dict[str, Any], *, event_id: str) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Subscription:
    topics: frozenset[str]
    handler: Handler
    name: str


@dataclass
class OutboxRelay:
    engine: AsyncEngine
    outbox: Table
    publishers: list[Publisher] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    batch_size: int = 100
    idle_seconds: float = 0.2
    max_backoff_seconds: float = 60.0

    def subscribe(self, topics: set[str] | frozenset[str], handler: Handler, *, name: str | None = None) -> None:
        self.subscriptions.append(Subscription(frozenset(topics), handler, name or getattr(handler, "__name__", "handler")))

    async def run_once(self) -> int:
        """Publish one batch of due events; returns how many were published."""
        table = self.outbox
        statement = (select(table).where(table.c.publishedAt.is_(None), table.c.availableAt <= datetime.now(timezone.utc))
                     .order_by(table.c.availableAt, table.c.createdAt).limit(self.batch_size))
        published = 0
        if self.engine.dialect.name == "postgresql":
            # Rows stay locked while they are delivered, so other replicas skip them.
            async with self.engine.begin() as conn:
                for row in (await conn.execute(statement.with_for_update(skip_locked=True))).all():
                    published += await self._publish_row(conn, row)
            return published
        # SQLite has one writer: read the batch, then settle each row in its own short transaction.
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        for row in rows:
            async with self.engine.begin() as conn:
                published += await self._publish_row(conn, row)
        return published

    async def _publish_row(self, conn: AsyncConnection, row: Any) -> int:
        table = self.outbox
        attempts = row.attempts + 1
        try:
            await self._deliver(row.topic, row.payload, str(row.id))
        except Exception as exc:  # a failing subscriber or broker must not stop the others
            delay = min(self.max_backoff_seconds, 0.5 * 2 ** attempts)
            log.warning("event delivery failed; will retry",
                        extra={"eventId": str(row.id), "topic": row.topic, "attempts": attempts, "error": repr(exc)})
            await conn.execute(update(table).where(table.c.id == row.id).values(
                attempts=attempts, lastError=repr(exc)[:2000],
                availableAt=datetime.now(timezone.utc) + timedelta(seconds=delay)))
            return 0
        await conn.execute(update(table).where(table.c.id == row.id).values(
            publishedAt=datetime.now(timezone.utc), attempts=attempts, lastError=None))
        return 1

    async def _deliver(self, topic: str, payload: dict[str, Any], event_id: str) -> None:
        for subscription in self.subscriptions:
            if topic in subscription.topics:
                result = subscription.handler({"topic": topic, **payload})
                if inspect.isawaitable(result):
                    await result
        for publisher in self.publishers:
            await publisher.publish(topic, payload, event_id=event_id)

    async def run(self) -> None:
        while True:
            try:
                published = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; keep relaying
                log.exception("outbox relay pass failed")
                published = 0
            if published < self.batch_size:
                await asyncio.sleep(self.idle_seconds)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[OutboxRelay]:
        for publisher in self.publishers:
            await publisher.start()
        task = asyncio.create_task(self.run(), name="orderpay-outbox-relay")
        try:
            yield self
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            for publisher in self.publishers:
                await publisher.stop()


def load_callable(dotted: str) -> Handler:
    """`package.module.function` → the function (an edge function named in a spec)."""
    module_name, _, attribute = dotted.rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"edge function `{dotted}` cannot be imported: {exc}") from None
    if not callable(target):
        raise ValueError(f"edge function `{dotted}` is not callable")
    return target
