"""The outbox relay: publishes committed events, at least once, to in-process subscribers
(the specs' edge functions among them) and to a message broker — and never stops doing so.

- Claims: a relay leases the rows it is about to deliver (`claimedBy`, `claimedUntil`) in one
  statement that picks them and takes the lease (on PostgreSQL the picking is `FOR UPDATE SKIP
  LOCKED`), delivers them with no transaction open, then settles the batch's delivered rows in
  one transaction (a row whose delivery failed, or a batch whose settlement fails, is settled
  row by row). Several relays (replicas) on one database so never deliver one event at the same
  time; a killed relay's lease expires and another relay takes the row over.
- Cost: each claim and settlement is a unit of work (`Database.write_relaxed`): one hop to a
  thread and a plain connection, whose commits on PostgreSQL do not wait for the WAL flush — a
  lease lost in a crash expires, a `publishedAt` lost in one means one more delivery (at least
  once, as ever) — so the relay takes little of the CPU and none of the disk the payments need.
- Waking: a relay that found nothing to do sleeps until this process commits an event
  (`notify`, called by the database once a transaction that wrote to the outbox has
  committed) or `idle_seconds` pass — the poll that finds other replicas' events and retries
  coming due. Woken, it gives the rest of a burst `gather_seconds` to commit, and relays
  them in one pass.
- Order: an event is not claimed while an earlier event of the same `key` (an order, a
  payment record) is undelivered and not dead-lettered, so one order's events leave in order
  while other orders' events flow past a failing one.
- Failures: each target (subscriber, broker) is tracked on the row (`deliveredTo`), so a retry
  goes only to the targets that failed. Retries back off exponentially up to a cap; after
  `max_attempts` failures the row is dead-lettered (`deadAt`), logged, and announced on the
  dead-letter topic. A row whose own bookkeeping fails is skipped, never blocking the rest.

Subscribers must tolerate duplicates (a lease that expired mid-delivery, a crash after the
delivery and before its bookkeeping): every payload carries its `eventId`.
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import Connection, Table, Update, and_, bindparam, exists, func, or_, select, update

from payment_core.clock import utcnow
from payment_core.db import Database
from payment_core.events import insert_events

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
class RelayStats:
    """Counters since start, for metrics (read them; the relay only adds)."""

    delivered: int = 0  # events fully delivered
    retried: int = 0  # failed deliveries that will be retried
    dead_lettered: int = 0
    bookkeeping_errors: int = 0  # a row's claim or settlement that failed (the row is retried later)
    passes_failed: int = 0  # whole passes that failed (the database away)


@dataclass(frozen=True)
class Backlog:
    """What is waiting in the outbox: the relay's lag as an operator sees it."""

    pending: int
    oldest_pending_seconds: float  # 0 when nothing waits
    dead: int


def backoff_seconds(attempts: int, *, base: float = 0.5, cap: float = 60.0) -> float:
    """Delay before the next try after `attempts` failures: base·2^(attempts−1), at most `cap`.

    The exponent is bounded first, so any number of failures gives a finite, capped delay
    (`0.5 * 2 ** 1100` would overflow a float)."""
    exponent = min(max(attempts - 1, 0), 62)
    return min(cap, base * float(1 << exponent))


def _error_text(error: BaseException | str) -> str:
    # Bounded, and without NUL (PostgreSQL text refuses it): the bookkeeping must not fail on it.
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text.replace("\x00", "\\0")[:2000]


@dataclass
class OutboxRelay:
    db: Database
    outbox: Table
    publishers: list[Publisher] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    batch_size: int = 100
    idle_seconds: float = 1.0
    gather_seconds: float = 0.05  # after a wake, a moment for the rest of a burst's events: one pass for all of them
    base_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 60.0
    max_attempts: int = 30
    lease_seconds: float = 60.0  # a row's deliveries time out well before (half of it, shared by its targets)
    concurrency: int = 16  # rows delivered side by side in one pass (never two of one key: see _claim)
    dead_letter_topic: str | None = None
    relay_id: str = field(default_factory=lambda: f"relay-{uuid.uuid4().hex[:12]}")
    stats: RelayStats = field(default_factory=RelayStats)
    _wake: asyncio.Event | None = field(default=None, init=False, repr=False)
    _claim_statement: Update | None = field(default=None, init=False, repr=False)
    _publish_statement: Update | None = field(default=None, init=False, repr=False)
    _woken: bool = field(default=False, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)

    def notify(self) -> None:
        """Events were committed: look for them now rather than at the next poll. Safe from any thread;
        once woken, the relay is not woken again before its next pass begins (which sees them all)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed() or self._woken:
            return  # not running (the first pass will find them), or woken already
        self._woken = True
        loop.call_soon_threadsafe(wake.set)

    def _claim_update(self) -> Update:
        """The claim, one statement: pick the due rows and lease them, returning them. Built once
        (building and cache-keying it cost more than running it on an idle outbox), the time and
        the lease as parameters."""
        if self._claim_statement is None:
            table = self.outbox
            now = bindparam("now")
            candidate, earlier = table.alias("candidate"), table.alias("earlier")
            held_back = exists().where(  # an earlier event of the same key still on its way
                earlier.c.key == candidate.c.key, earlier.c.createdAt < candidate.c.createdAt,
                earlier.c.publishedAt.is_(None), earlier.c.deadAt.is_(None))
            due = (select(candidate.c.id)
                   .where(candidate.c.publishedAt.is_(None), candidate.c.deadAt.is_(None),
                          candidate.c.availableAt <= now,
                          or_(candidate.c.claimedUntil.is_(None), candidate.c.claimedUntil < now),
                          or_(candidate.c.key.is_(None), ~held_back))
                   .order_by(candidate.c.createdAt).limit(self.batch_size))
            if self.db.engine.dialect.name == "postgresql":
                # Rows another relay is claiming right now are skipped, not waited for.
                due = due.with_for_update(of=candidate, skip_locked=True)
            # The pick runs once, as a materialized CTE: as a plain `IN (subquery)` PostgreSQL may run
            # it again for each row it updates, each time locking and leasing another batch — one
            # statement then leased every due row, beyond `batch_size`, leaving other relays none.
            picked = due.cte("picked").prefix_with("MATERIALIZED")
            # The lease is taken only where it is still free: the claim is decided by this write.
            self._claim_statement = (
                update(table)
                .where(table.c.id.in_(select(picked.c.id)), table.c.publishedAt.is_(None), table.c.deadAt.is_(None),
                       or_(table.c.claimedUntil.is_(None), table.c.claimedUntil < now))
                .values(claimedBy=bindparam("relay"), claimedUntil=bindparam("until"))
                .returning(*table.c))
        return self._claim_statement

    def subscribe(self, topics: set[str] | frozenset[str], handler: Handler, *, name: str | None = None) -> None:
        self.subscriptions.append(Subscription(frozenset(topics), handler, name or getattr(handler, "__name__", "handler")))

    # -- one pass ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim, deliver and settle one batch of due events; returns how many were fully delivered."""
        rows = await self._claim()
        # Rows of one key are never in the same batch, so delivering side by side keeps each
        # order's events in order, and a slow subscriber holds up only its own rows.
        slots = asyncio.Semaphore(self.concurrency)

        async def deliver(row: Any) -> tuple[Any, list[str], dict[str, str]]:
            async with slots:
                try:
                    delivered_to, failures = await self._deliver(row)
                except Exception as exc:  # a payload the relay cannot even read: it counts as a failed delivery
                    delivered_to, failures = list(row.deliveredTo or ()), {"relay": _error_text(exc)}
                return row, delivered_to, failures

        outcomes = await asyncio.gather(*(deliver(row) for row in rows))
        done = [(row, delivered_to) for row, delivered_to, failures in outcomes if not failures]
        if done and await self._settle_delivered(done):
            outcomes = [outcome for outcome in outcomes if outcome[2]]  # only the failed ones are left to settle
        return len(rows) - len(outcomes) + sum([await self._settle_row(*outcome) for outcome in outcomes])

    async def _settle_delivered(self, done: list[tuple[Any, list[str]]]) -> bool:
        """Mark a batch's fully delivered rows published in one transaction; False if that failed
        (each row is then settled on its own, so that one bad row does not hold the others)."""
        if self._publish_statement is None:  # built once, as the claim
            table = self.outbox
            self._publish_statement = (
                update(table).where(table.c.id.in_(bindparam("ids", expanding=True)), table.c.claimedBy == bindparam("relay"))
                .values(publishedAt=bindparam("now"), attempts=table.c.attempts + 1, lastError=None,
                        deliveredTo=bindparam("delivered_to"), claimedBy=None, claimedUntil=None))
        settle, now = self._publish_statement, utcnow()
        # One statement for the rows that went to the same targets (the rows of a topic, as a rule):
        # row by row, a batch of a hundred cost as much again as its claim.
        by_targets: dict[tuple[str, ...], list[Any]] = {}
        for row, delivered_to in done:
            by_targets.setdefault(tuple(delivered_to), []).append(row.id)

        def publish(conn: Connection) -> None:
            for delivered_to, ids in by_targets.items():
                conn.execute(settle, {"ids": ids, "relay": self.relay_id, "now": now, "delivered_to": list(delivered_to)})

        try:
            await self.db.write_relaxed(publish)
        except Exception:
            log.warning("settling a batch of delivered events failed; settling them one by one", exc_info=True)
            return False
        self.stats.delivered += len(done)
        return True

    async def _claim(self) -> list[Any]:
        claim = self._claim_update()
        now = utcnow()
        lease = {"now": now, "relay": self.relay_id, "until": now + timedelta(seconds=self.lease_seconds)}
        claimed = await self.db.write_relaxed(lambda conn: conn.execute(claim, lease).all())
        return sorted(claimed, key=lambda row: row.createdAt)

    async def _settle_row(self, row: Any, delivered_to: list[str], failures: dict[str, str]) -> int:
        try:
            return await self._settle(row, delivered_to, failures)
        except Exception:
            # This row's bookkeeping failed; its lease expires and it is tried again later.
            # The other rows go on.
            self.stats.bookkeeping_errors += 1
            log.exception("outbox bookkeeping failed; the event will be retried",
                          extra={"eventId": str(row.id), "topic": row.topic})
            await self._postpone_after_bookkeeping_error(row)
            return 0

    def _targets(self, topic: str) -> list[tuple[str, Callable[[dict[str, Any], str], Awaitable[Any]]]]:
        targets: list[tuple[str, Callable[[dict[str, Any], str], Awaitable[Any]]]] = []
        for subscription in self.subscriptions:
            if topic in subscription.topics:
                targets.append((f"subscriber:{subscription.name}", _call_handler(subscription.handler, topic)))
        for publisher in self.publishers:
            targets.append((f"broker:{getattr(publisher, 'name', type(publisher).__name__)}",
                            _call_publisher(publisher, topic)))
        return targets

    async def _deliver(self, row: Any) -> tuple[list[str], dict[str, str]]:
        """Delivers to each target that does not have the event yet; (who has it now, who failed and why)."""
        delivered_to = list(row.deliveredTo or ())
        failures: dict[str, str] = {}
        payload = dict(row.payload)
        targets = [(name, send) for name, send in self._targets(row.topic) if name not in delivered_to]
        # All of them must finish well inside the lease, or another relay could start the row too.
        timeout = self.lease_seconds / 2 / max(len(targets), 1)
        for name, send in targets:
            try:
                await asyncio.wait_for(send(payload, str(row.id)), timeout)
            except Exception as exc:  # a failing subscriber or broker must not stop the others
                failures[name] = _error_text(exc)
            else:
                delivered_to.append(name)
        return delivered_to, failures

    async def _settle(self, row: Any, delivered_to: list[str], failures: dict[str, str]) -> int:
        table = self.outbox
        attempts = row.attempts + 1
        mine = and_(table.c.id == row.id, table.c.claimedBy == self.relay_id)
        now = utcnow()
        if not failures:
            published = update(table).where(mine).values(
                publishedAt=now, attempts=attempts, lastError=None, deliveredTo=delivered_to,
                claimedBy=None, claimedUntil=None)
            await self.db.write_relaxed(lambda conn: conn.execute(published))
            self.stats.delivered += 1
            return 1
        error = _error_text("; ".join(f"{name}: {why}" for name, why in failures.items()))
        facts = {"eventId": str(row.id), "topic": row.topic, "key": row.key, "attempts": attempts,
                 "failedTargets": sorted(failures), "error": error}
        if attempts >= self.max_attempts:
            dead = update(table).where(mine).values(
                deadAt=now, attempts=attempts, lastError=error, deliveredTo=delivered_to,
                claimedBy=None, claimedUntil=None)

            def bury(conn: Connection) -> None:
                if conn.execute(dead).rowcount and self.dead_letter_topic and row.topic != self.dead_letter_topic:
                    # Announced in the same transaction; a dead-letter event is never announced again.
                    insert_events(conn, table, [(self.dead_letter_topic, {"deadLetter": facts}, None)])

            await self.db.write_relaxed(bury)
            self.stats.dead_lettered += 1
            log.error("event dead-lettered after %d failed deliveries", attempts, extra=facts)
            return 0
        delay = backoff_seconds(attempts, base=self.base_backoff_seconds, cap=self.max_backoff_seconds)
        retry = update(table).where(mine).values(
            attempts=attempts, lastError=error, deliveredTo=delivered_to,
            availableAt=now + timedelta(seconds=delay), claimedBy=None, claimedUntil=None)
        await self.db.write_relaxed(lambda conn: conn.execute(retry))
        self.stats.retried += 1
        log.warning("event delivery failed; retrying in %.1f s", delay, extra=facts)
        return 0

    async def _postpone_after_bookkeeping_error(self, row: Any) -> None:
        """After a failed settlement, count the attempt with the least that could fail; if even that
        fails, the lease expiring is the fallback."""
        table = self.outbox
        postpone = update(table).where(table.c.id == row.id, table.c.claimedBy == self.relay_id).values(
            attempts=row.attempts + 1,
            availableAt=utcnow() + timedelta(seconds=backoff_seconds(
                row.attempts + 1, base=self.base_backoff_seconds, cap=self.max_backoff_seconds)))
        try:
            await self.db.write_relaxed(lambda conn: conn.execute(postpone))
        except Exception:
            log.warning("outbox row left to its lease", extra={"eventId": str(row.id)})

    # -- what operators read ----------------------------------------------------------------

    async def backlog(self) -> Backlog:
        """Pending and dead events and the age of the oldest pending one (the relay's lag)."""
        table = self.outbox
        pending = and_(table.c.publishedAt.is_(None), table.c.deadAt.is_(None))

        def tally(conn: Connection) -> tuple[int, Any, int]:
            waiting, oldest = conn.execute(select(func.count(), func.min(table.c.createdAt)).where(pending)).one()
            return waiting, oldest, conn.execute(select(func.count()).where(table.c.deadAt.is_not(None))).scalar_one()

        count, oldest, dead = await self.db.read(tally)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=timezone.utc)
        lag = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
        return Backlog(pending=count, oldest_pending_seconds=lag, dead=dead)

    async def requeue_dead(self, event_ids: list[uuid.UUID]) -> int:
        """Give dead-lettered events a fresh start (after the subscriber is fixed); returns how many."""
        table = self.outbox
        requeue = (update(table).where(table.c.id.in_(event_ids), table.c.deadAt.is_not(None))
                   .values(deadAt=None, attempts=0, availableAt=utcnow()))
        return await self.db.write(lambda conn: conn.execute(requeue).rowcount or 0)

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        try:
            while True:
                self._woken = False  # what is committed from here on wakes the wait below
                self._wake.clear()
                try:
                    published = await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database may be briefly away; keep relaying
                    self.stats.passes_failed += 1
                    log.exception("outbox relay pass failed")
                    published = 0
                if not published:  # after a productive pass, look again at once: held-back events may be due
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
                    except TimeoutError:
                        continue
                    await asyncio.sleep(self.gather_seconds)
        finally:
            self._loop = self._wake = None

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


def _call_handler(handler: Handler, topic: str) -> Callable[[dict[str, Any], str], Awaitable[Any]]:
    async def send(payload: dict[str, Any], event_id: str) -> None:
        result = handler({"topic": topic, **payload})
        if inspect.isawaitable(result):
            await result
    return send


def _call_publisher(publisher: Publisher, topic: str) -> Callable[[dict[str, Any], str], Awaitable[Any]]:
    async def send(payload: dict[str, Any], event_id: str) -> None:
        await publisher.publish(topic, payload, event_id=event_id)
    return send


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
