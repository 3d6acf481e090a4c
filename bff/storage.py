"""Conversations, their messages, and every event of every turn, in orderpay's database.

The tables live on the runtime's metadata, so they are created with the app's
own at startup, on SQLite and PostgreSQL alike. Turns write through
`WriteBehind`: many turns streaming at once share one transaction per batch
instead of one per event, which is what lets a single SQLite connection keep
up; a turn waits for `sync()` before it reports itself finished, so a client
that then reads the conversation, or resumes on another replica, finds it all.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from payment_core.db import Database
from payment_core.schema import JSON_TYPE
from bff.messages import Message

log = logging.getLogger("orderpay.bff.storage")

TERMINAL_EVENTS = frozenset({"done", "error", "stopped"})
ACTIVE_STATUSES = ("running", "stopping")  # `stopping`: its owner asked another replica to stop it
_FLUSH_ATTEMPTS = 5


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were written in UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ChatTables:
    conversation: Table
    message: Table
    turn: Table
    event: Table


def chat_tables(metadata: MetaData) -> ChatTables:
    conversation = Table(
        "bff_conversation", metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("userId", Uuid(as_uuid=True), nullable=False),
        Column("title", String(200), nullable=False),
        Column("provider", String(32), nullable=False),
        Column("createdAt", DateTime(timezone=True), nullable=False),
        Column("updatedAt", DateTime(timezone=True), nullable=False),
    )
    Index("ix_bff_conversation_user", conversation.c.userId, conversation.c.updatedAt)
    message = Table(
        "bff_message", metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("conversationId", Uuid(as_uuid=True), nullable=False, index=True),
        Column("turnId", Uuid(as_uuid=True), nullable=False),
        Column("body", JSON_TYPE, nullable=False),
        Column("createdAt", DateTime(timezone=True), nullable=False),
    )
    turn = Table(
        "bff_turn", metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("conversationId", Uuid(as_uuid=True), nullable=False, index=True),
        Column("userId", Uuid(as_uuid=True), nullable=False),
        Column("provider", String(32), nullable=False),
        Column("status", String(16), nullable=False),  # running | stopping | done | error | stopped
        Column("startedAt", DateTime(timezone=True), nullable=False),
        Column("finishedAt", DateTime(timezone=True), nullable=True),
        # Set by a replica streaming this turn to a reconnected client, so the replica running it
        # knows someone still listens (see TurnHub).
        Column("watchedAt", DateTime(timezone=True), nullable=True),
    )
    event = Table(
        "bff_turn_event", metadata,
        Column("turnId", Uuid(as_uuid=True), primary_key=True),
        Column("seq", Integer(), primary_key=True),
        Column("event", String(32), nullable=False),
        Column("data", JSON_TYPE, nullable=False),
        Column("createdAt", DateTime(timezone=True), nullable=False),
    )
    return ChatTables(conversation, message, turn, event)


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    name: str
    data: dict[str, Any]


@dataclass(frozen=True)
class TurnRow:
    id: uuid.UUID
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    status: str
    started_at: datetime


class WriteBehind:
    """New rows and changes of rows from any number of turns, committed a batch per transaction.

    A batch waits up to `linger` seconds for more, unless someone is waiting in `sync()`: fewer,
    larger transactions leave the one SQLite connection free for the tools' own reads most of
    the time. In a batch, each table's new rows go in one statement, in the order they came; a
    change of a row inserted in the same batch is made to the row before it is inserted (a turn
    that starts and ends within one batch is one row); the other changes follow, in order. The
    batch is written as one unit of work (`Database.write`: on SQLite one hop to the writer's
    thread, not one per statement)."""

    def __init__(self, db: Database, *, linger: float = 0.05) -> None:
        self.db, self.linger = db, linger
        self._urgent = anyio.Event()
        self._pending: list[tuple[Table, Any, dict[str, Any]]] = []  # (table, key or None for a new row, values)
        self._inserts: dict[Table, Executable] = {}
        self._updates: dict[tuple[Table, tuple[str, ...]], Executable] = {}
        self._queued = 0
        self._committed = 0
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        self._closing = False

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        self._add(table, None, row)

    def update(self, table: Table, key: Any, values: dict[str, Any]) -> None:
        """Set `values` on the row of `table` whose primary key is `key`."""
        self._add(table, key, values)

    def _add(self, table: Table, key: Any, values: dict[str, Any]) -> None:
        self._pending.append((table, key, values))
        self._queued += 1
        self._wake.set()

    async def sync(self) -> None:
        """Return once everything queued before this call is committed (or given up on)."""
        target = self._queued
        while self._committed < target:
            self._urgent.set()
            await self._progress.wait()

    async def run(self) -> None:
        """The writer task: runs until `close()`, then writes what is left."""
        while True:
            await self._wake.wait()
            if not self._closing:
                with anyio.move_on_after(self.linger):
                    await self._urgent.wait()
            self._wake, self._urgent = anyio.Event(), anyio.Event()
            if self._pending:
                batch, self._pending = self._pending, []
                with anyio.CancelScope(shield=True):  # a batch is written whole, even at shutdown
                    await self._write(batch)
                self._committed += len(batch)
                self._progress.set()
                self._progress = anyio.Event()
            if self._closing and not self._pending:
                return

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    async def _write(self, batch: list[tuple[Table, Any, dict[str, Any]]]) -> None:
        statements = self._statements(batch)

        def write(conn: Connection) -> None:
            for statement, parameters in statements:
                conn.execute(statement, parameters)

        for attempt in range(1, _FLUSH_ATTEMPTS + 1):
            try:
                await self.db.write(write)
                return
            except Exception:
                if attempt == _FLUSH_ATTEMPTS:
                    log.exception("chat writes lost after %d attempts", attempt, extra={"statements": len(batch)})
                    return
                log.warning("chat writes failed; retrying", exc_info=True, extra={"attempt": attempt})
                await anyio.sleep(0.2 * 2 ** attempt)

    def _statements(self, batch: list[tuple[Table, Any, dict[str, Any]]]) -> list[tuple[Executable, list[dict[str, Any]]]]:
        """The batch as statements with their parameters (see the class docstring)."""
        inserts: dict[Table, list[dict[str, Any]]] = {}
        new_rows: dict[tuple[Table, Any], dict[str, Any]] = {}
        updates: list[tuple[Executable, list[dict[str, Any]]]] = []
        for table, key, values in batch:
            if key is None:
                row = dict(values)
                inserts.setdefault(table, []).append(row)
                if (column := _key_column(table)) is not None and column.name in row:
                    new_rows[table, row[column.name]] = row
            elif (table, key) in new_rows:
                new_rows[table, key].update(values)
            else:
                statement = self._update_statement(table, tuple(values))
                parameters = {"key": key, **{f"new_{name}": value for name, value in values.items()}}
                if updates and updates[-1][0] is statement:
                    updates[-1][1].append(parameters)
                else:
                    updates.append((statement, [parameters]))
        return [(self._insert_statement(table), rows) for table, rows in inserts.items()] + updates

    def _insert_statement(self, table: Table) -> Executable:
        """Built once for each table, as the updates are."""
        statement = self._inserts.get(table)
        if statement is None:
            statement = self._inserts[table] = table.insert()
        return statement

    def _update_statement(self, table: Table, names: tuple[str, ...]) -> Executable:
        """Built once for each table and set of columns: building a statement costs more than running it."""
        statement = self._updates.get((table, names))
        if statement is None:
            column = _key_column(table)
            assert column is not None, f"{table.name}: rows are updated by a one-column primary key"
            statement = self._updates[table, names] = update(table).where(column == bindparam("key")).values(
                {name: bindparam(f"new_{name}") for name in names})
        return statement


def _key_column(table: Table) -> Column[Any] | None:
    """The table's primary key when it is one column."""
    columns = list(table.primary_key.columns)
    return columns[0] if len(columns) == 1 else None


class ChatStore:
    """Reads of the chat tables, and the writes of a turn (through the write-behind queue)."""

    def __init__(self, engine: AsyncEngine, tables: ChatTables, writer: WriteBehind) -> None:
        self.engine, self.tables, self.writer = engine, tables, writer

    # -- a turn's writes ------------------------------------------------------------------------

    def begin_turn(self, *, turn_id: uuid.UUID, conversation_id: uuid.UUID, user_id: uuid.UUID, provider: str,
                   user_message: Message, new_conversation: bool) -> None:
        now = utcnow()
        if new_conversation:
            self.writer.insert(self.tables.conversation, {
                "id": conversation_id, "userId": user_id, "title": _title(user_message.text), "provider": provider,
                "createdAt": now, "updatedAt": now})
        self.writer.insert(self.tables.turn, {
            "id": turn_id, "conversationId": conversation_id, "userId": user_id, "provider": provider,
            "status": "running", "startedAt": now, "finishedAt": None, "watchedAt": None})
        self.add_messages(conversation_id, turn_id, [user_message])

    def add_messages(self, conversation_id: uuid.UUID, turn_id: uuid.UUID, messages: list[Message]) -> None:
        for message in messages:
            self.writer.insert(self.tables.message, {"conversationId": conversation_id, "turnId": turn_id,
                                                     "body": message.to_json(), "createdAt": utcnow()})

    def add_event(self, turn_id: uuid.UUID, seq: int, name: str, data: dict[str, Any]) -> None:
        self.writer.insert(self.tables.event, {"turnId": turn_id, "seq": seq, "event": name, "data": data,
                                               "createdAt": utcnow()})

    def end_turn(self, turn_id: uuid.UUID, conversation_id: uuid.UUID, status: str) -> None:
        now = utcnow()
        self.writer.update(self.tables.turn, turn_id, {"status": status, "finishedAt": now})
        self.writer.update(self.tables.conversation, conversation_id, {"updatedAt": now})

    # -- reads ----------------------------------------------------------------------------------

    async def conversation(self, user_id: uuid.UUID, conversation_id: uuid.UUID) -> dict[str, Any] | None:
        """The user's conversation, or None (also when it is someone else's)."""
        c = self.tables.conversation
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(c).where(c.c.id == conversation_id, c.c.userId == user_id))).first()
        return _conversation_json(row._mapping) if row else None

    async def conversations(self, user_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
        c, m = self.tables.conversation, self.tables.message
        count = select(func.count()).where(m.c.conversationId == c.c.id).scalar_subquery()
        query = (select(c, count.label("messageCount")).where(c.c.userId == user_id)
                 .order_by(c.c.updatedAt.desc(), c.c.id).limit(limit))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{**_conversation_json(row._mapping), "messageCount": row.messageCount} for row in rows]

    async def messages(self, conversation_id: uuid.UUID, *, last: int | None = None) -> list[Message]:
        """The conversation's messages, oldest first; only the `last` ones when given."""
        m = self.tables.message
        query = select(m.c.body).where(m.c.conversationId == conversation_id).order_by(m.c.id.desc())
        if last is not None:
            query = query.limit(last)
        async with self.engine.connect() as conn:
            bodies = (await conn.execute(query)).scalars().all()
        messages = [Message.from_json(body) for body in reversed(bodies)]
        if last is not None:  # never start on a tool result whose call was cut off
            while messages and messages[0].role != "user":
                messages.pop(0)
        return messages

    async def running_turn(self, conversation_id: uuid.UUID, *, younger_than: float) -> bool:
        return await self.running_turn_id(conversation_id, younger_than=younger_than) is not None

    async def running_turn_id(self, conversation_id: uuid.UUID, *, younger_than: float) -> uuid.UUID | None:
        """The conversation's turn still running (started less than `younger_than` seconds ago), if any."""
        t = self.tables.turn
        since = utcnow() - timedelta(seconds=younger_than)
        query = (select(t.c.id).where(t.c.conversationId == conversation_id, t.c.status.in_(ACTIVE_STATUSES),
                                      t.c.startedAt > since).order_by(t.c.startedAt.desc()).limit(1))
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar()

    async def request_stop(self, turn_id: uuid.UUID) -> None:
        """Ask the replica running the turn to stop it (see `stop_requested`)."""
        t = self.tables.turn
        async with self.engine.begin() as conn:
            await conn.execute(update(t).where(t.c.id == turn_id, t.c.status == "running").values(status="stopping"))

    async def stop_requested(self, turn_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Those of `turn_ids` someone asked to stop."""
        t = self.tables.turn
        query = select(t.c.id).where(t.c.id.in_(turn_ids), t.c.status == "stopping")
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def delete_conversation(self, user_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
        c, m, t, e = self.tables.conversation, self.tables.message, self.tables.turn, self.tables.event
        await self.writer.sync()  # nothing of it may be written after it is gone
        async with self.engine.begin() as conn:
            gone = await conn.execute(delete(c).where(c.c.id == conversation_id, c.c.userId == user_id))
            if not gone.rowcount:
                return False
            turns = select(t.c.id).where(t.c.conversationId == conversation_id).scalar_subquery()
            await conn.execute(delete(e).where(e.c.turnId.in_(turns)))
            await conn.execute(delete(t).where(t.c.conversationId == conversation_id))
            await conn.execute(delete(m).where(m.c.conversationId == conversation_id))
        return True

    async def turn(self, turn_id: uuid.UUID) -> TurnRow | None:
        t = self.tables.turn
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.id == turn_id))).first()
        if row is None:
            return None
        started = row.startedAt if row.startedAt.tzinfo else row.startedAt.replace(tzinfo=timezone.utc)
        return TurnRow(row.id, row.conversationId, row.userId, row.status, started)

    async def events_after(self, turn_id: uuid.UUID, seq: int) -> list[StoredEvent]:
        e = self.tables.event
        query = select(e.c.seq, e.c.event, e.c.data).where(e.c.turnId == turn_id, e.c.seq > seq).order_by(e.c.seq)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredEvent(row.seq, row.event, row.data) for row in rows]

    async def ended(self, turn_id: uuid.UUID) -> bool:
        """Whether the turn's last stored event is its `done`, `error` or `stopped`."""
        e = self.tables.event
        query = select(e.c.event).where(e.c.turnId == turn_id).order_by(e.c.seq.desc()).limit(1)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar() in TERMINAL_EVENTS

    async def mark_watched(self, turn_id: uuid.UUID) -> None:
        t = self.tables.turn
        async with self.engine.begin() as conn:
            await conn.execute(update(t).where(t.c.id == turn_id).values(watchedAt=utcnow()))

    async def watched_since(self, turn_id: uuid.UUID, seconds: float) -> bool:
        t = self.tables.turn
        since = utcnow() - timedelta(seconds=seconds)
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.c.watchedAt).where(t.c.id == turn_id))).first()
        if row is None or row.watchedAt is None:
            return False
        watched = row.watchedAt if row.watchedAt.tzinfo else row.watchedAt.replace(tzinfo=timezone.utc)
        return watched > since


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:79] + "…"


def _conversation_json(row: Any) -> dict[str, Any]:
    return {"id": str(row["id"]), "title": row["title"], "provider": row["provider"],
            "createdAt": iso(row["createdAt"]), "updatedAt": iso(row["updatedAt"])}
