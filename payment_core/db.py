"""The database connection: SQLite by default, PostgreSQL through one URL."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import SingletonThreadPool
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from payment_core import sqlite_driver
from payment_core.migrations import SchemaPlan, plan_schema, upgrade_schema
from payment_core.files import private_database

T = TypeVar("T")


class Database:
    """The async engine, and `read` and `write` for the hot paths' units of work.

    A unit of work is a plain function given a connection, run in one step: one thread hop (or
    one greenlet) for the whole unit instead of SQLAlchemy's asyncio machinery for each
    connect, statement, commit and close — most of the time of a short transaction.

    On a SQLite file a read runs in a reader thread on a connection of its own (WAL lets it
    read while the writer writes; `query_only` keeps it from ever writing), and a write in a
    writer thread on a connection of its own, in a `BEGIN IMMEDIATE` transaction, while it
    holds the async engine's one pooled connection: SQLite has one writer, and holding that
    connection keeps every other write of this process out until the unit has committed.
    A read of a row by its key (`read_by_key`) skips even the thread hop on SQLite.

    On PostgreSQL a unit runs in one of a few threads on a plain (psycopg) connection, a read on a
    read-only one in autocommit: its statements go back to back, without waiting between them for
    the event loop to come round — where an asyncio connection sits idle in transaction, its
    row locks held, while the loop serves other requests — and it costs about half the CPU.

    `write_relaxed` is for bookkeeping whose loss in a crash is harmless (the outbox relay's leases
    and `publishedAt`): on PostgreSQL it runs in a thread of its own on a connection whose commits
    do not wait for the WAL flush, so it costs no round trip to say so and the payments' durable
    commits do not queue behind it for the disk.

    `after_write` callbacks run once a transaction that asked for it (`notify_after_commit`,
    as writing an event does) has committed: the outbox relay wakes on them instead of polling.
    """

    def __init__(self, engine: AsyncEngine, reader: Engine | None = None, key_reader: Engine | None = None,
                 writer: Engine | None = None, relaxed_writer: Engine | None = None) -> None:
        self.engine = engine
        postgres = engine.dialect.name == "postgresql"
        self._read_only = engine.execution_options(postgresql_readonly=True) if postgres else engine
        self._reader = reader
        self._reader_thread = sqlite_driver.Worker("orderpay-sqlite-reader") if reader is not None and not postgres else None
        self._key_reader = key_reader
        self._key_connections = threading.local()
        self._writer = writer
        # SQLite: one writer thread (one writer at a time anyway). PostgreSQL: a thread for each
        # connection of the plain pool, shared by reads and writes.
        self._writer_thread = sqlite_driver.Worker("orderpay-sqlite-writer") if writer is not None and not postgres else None
        self._writer_pool = (ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="orderpay-writer")
                             if writer is not None and postgres else None)
        self._writer_connections = threading.local()
        self._held: list[Connection] = []  # every writer thread's connection, closed by `dispose`
        self._held_lock = threading.Lock()
        self._relaxed_writer = relaxed_writer
        self._relaxed_thread = sqlite_driver.Worker("orderpay-relaxed-writer") if relaxed_writer is not None else None
        self._relaxed_connection: Connection | None = None  # touched only by that thread
        self.after_write: list[Callable[[], None]] = []
        for sync_engine in (engine.sync_engine, writer, relaxed_writer):
            if sync_engine is not None:
                self._notify_after_commits(sync_engine)

    async def read(self, work: Callable[[Connection], T]) -> T:
        if self._reader_thread is not None:
            return await self._reader_thread.call(self._read_here, work)
        if self._writer_pool is not None:
            return await asyncio.get_running_loop().run_in_executor(self._writer_pool, self._read_here, work)
        async with self._read_only.connect() as conn:
            return await conn.run_sync(work)

    async def read_by_key(self, work: Callable[[Connection], T]) -> T:
        """A read of one row (or a few) by key, as `read`. On a SQLite file it runs right here on
        the event loop, on a read-only connection of this thread's own: such a read takes tens of
        microseconds, less than the two thread hops of `read`, and in WAL mode a reader does not
        wait for the writer. Should it find the database locked all the same (a short busy timeout),
        it goes through `read`, whose thread may wait."""
        if self._key_reader is None:
            return await self.read(work)
        conn = self._key_connection()
        try:
            try:
                return work(conn)
            finally:
                conn.rollback()  # ends SQLAlchemy's transaction; sqlite3 begins none for a read
        except (OperationalError, sqlite3.OperationalError):  # the latter from a `KeyRead`
            return await self.read(work)

    def _key_connection(self) -> Connection:
        """This thread's connection for reads by key, kept open: taking a pooled connection and
        giving it back costs about as much as the read."""
        assert self._key_reader is not None
        conn: Connection | None = getattr(self._key_connections, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._key_connections.conn = self._key_reader.connect()
        return conn

    def _read_here(self, work: Callable[[Connection], T]) -> T:
        assert self._reader is not None
        with self._reader.connect() as conn:
            return work(conn)

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction: committed when it returns, rolled back when it raises.

        `work` runs off the event loop's tasks (in a thread on SQLite): it may only use its
        connection, never await, and must not call anything slow (Stripe) — the writer waits for it.
        """
        if self._writer_pool is not None:
            return await asyncio.get_running_loop().run_in_executor(self._writer_pool, self._write_here, work)
        if self._writer_thread is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        async with self.engine.connect():  # the process's one writer slot (see the class docstring)
            unit = asyncio.ensure_future(self._writer_thread.call(self._write_here, work))
            try:
                return await asyncio.shield(unit)
            except asyncio.CancelledError:
                # The caller is gone, the unit runs on: the slot is held until it has ended.
                await asyncio.wait([unit])
                raise

    async def write_relaxed(self, work: Callable[[Connection], T]) -> T:
        """As `write`, for a transaction that may be lost in a crash (the database's, not ours)
        without harm: on PostgreSQL its commit does not wait for the WAL flush. Elsewhere it is
        `write` (SQLite's WAL commits already skip the fsync, `synchronous=NORMAL`)."""
        if self._relaxed_thread is None:
            return await self.write(work)
        return await self._relaxed_thread.call(self._write_relaxed_here, work)

    def _write_relaxed_here(self, work: Callable[[Connection], T]) -> T:
        assert self._relaxed_writer is not None
        conn = self._relaxed_connection
        if conn is None or conn.closed or conn.invalidated:
            conn = self._relaxed_connection = self._relaxed_writer.connect()
        return self._write_on(conn, work)

    def _write_here(self, work: Callable[[Connection], T]) -> T:
        return self._write_on(self._writer_connection(), work)

    def _write_on(self, conn: Connection, work: Callable[[Connection], T]) -> T:
        with conn.begin():
            result = work(conn)
        if conn.info.pop(COMMITTED, None):  # a held connection is never checked in: run them here
            for callback in self.after_write:
                callback()
        return result

    def _writer_connection(self) -> Connection:
        """This writer thread's connection, kept open: taking a pooled connection and giving it
        back cost about as much as a short unit's statements."""
        assert self._writer is not None
        conn: Connection | None = getattr(self._writer_connections, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._writer_connections.conn = self._writer.connect()
            with self._held_lock:
                self._held.append(conn)
        return conn

    def _notify_after_commits(self, engine: Engine) -> None:
        """Run `after_write` once a connection whose transaction asked for it is back in the pool,
        committed by then. The ask is carried from commit to checkin on the pooled connection's
        `info`; a transaction that began after a rolled-back one starts without it."""
        @event.listens_for(engine, "begin")
        def _fresh(conn: Connection) -> None:
            conn.info.pop(NOTIFY, None)

        @event.listens_for(engine, "commit")
        def _committing(conn: Connection) -> None:
            if conn.info.pop(NOTIFY, None):
                conn.info[COMMITTED] = True

        @event.listens_for(engine, "checkin")
        def _committed(_dbapi_connection: Any, record: Any) -> None:
            if record is not None and record.info.pop(COMMITTED, None):
                for callback in self.after_write:
                    callback()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._key_reader is not None:
            held = getattr(self._key_connections, "conn", None)
            if held is not None:
                held.close()
            self._key_reader.dispose()  # and the connections other threads held
        if self._writer_pool is not None:
            self._writer_pool.shutdown(wait=True)
        if self._relaxed_thread is not None:
            await self._relaxed_thread.call(self._close_relaxed)
            self._relaxed_thread.stop()
        for thread, engine in ((self._reader_thread, self._reader), (self._writer_thread, self._writer)):
            if thread is not None and engine is not None:
                await thread.call(self._close_held if engine is self._writer else engine.dispose)
                thread.stop()
        if self._writer_pool is not None:
            self._close_held()
            if self._reader is not None:
                self._reader.dispose()

    def _close_relaxed(self) -> None:
        assert self._relaxed_writer is not None
        if self._relaxed_connection is not None:
            self._relaxed_connection.close()
            self._relaxed_connection = None
        self._relaxed_writer.dispose()

    def _close_held(self) -> None:
        """Close the writer threads' connections (their threads are idle by now), then the pool."""
        assert self._writer is not None
        with self._held_lock:
            held, self._held = self._held, []
        for conn in held:
            conn.close()
        self._writer.dispose()


# PostgreSQL units of work run side by side: a unit waits on the network most of its time (its
# statements, a write's WAL flush at commit), with the GIL released.
WRITER_THREADS = 8
NOTIFY = "orderpay_notify_after_commit"
COMMITTED = "orderpay_notify_now"


def notify_after_commit(conn: Connection | AsyncConnection) -> None:
    """Have the `Database`'s `after_write` callbacks run once this transaction has committed
    (the outbox relay wakes on them)."""
    conn.info[NOTIFY] = True


def create_database(url: str) -> Database:
    engine = create_engine(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # The same database through psycopg, for the units of work's threads: each keeps a connection
        # for writes, and takes one for each read from a pool of read-only connections in autocommit
        # (a read is its statements alone: no BEGIN and COMMIT round trips, and as a READ COMMITTED
        # transaction would, each statement sees what was committed when it began).
        plain = parsed.set(drivername="postgresql+psycopg")
        writer = sqlalchemy.create_engine(plain, pool_size=WRITER_THREADS, max_overflow=0, pool_recycle=1800)
        reader = sqlalchemy.create_engine(plain, pool_size=WRITER_THREADS, max_overflow=0, pool_recycle=1800,
                                          isolation_level="AUTOCOMMIT",
                                          connect_args={"options": "-c default_transaction_read_only=on"})
        # Bookkeeping that a crash may lose without harm (`Database.write_relaxed`): the connection's
        # commits do not wait for the WAL flush, set once when it opens rather than in each transaction.
        relaxed = sqlalchemy.create_engine(plain, pool_size=1, max_overflow=0, pool_recycle=1800,
                                           connect_args={"options": "-c synchronous_commit=off"})
        return Database(engine, reader=reader, writer=writer, relaxed_writer=relaxed)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return Database(engine)  # an in-memory database is private to its one connection
    reader = sqlalchemy.create_engine(
        f"sqlite:///{parsed.database}", pool_size=1, max_overflow=0, pool_reset_on_return=None,
        connect_args={"check_same_thread": False, "timeout": 30},
    )
    # One connection for each thread that runs an event loop (there is one, bar tests), never
    # shared between threads at once; a short busy timeout so the loop never waits long.
    key_reader = sqlalchemy.create_engine(
        f"sqlite:///{parsed.database}", poolclass=SingletonThreadPool, pool_reset_on_return=None,
        connect_args={"check_same_thread": False, "timeout": 0.05},
    )
    for read_only in (reader, key_reader):
        event.listen(read_only, "connect", _query_only)
    writer = sqlalchemy.create_engine(
        f"sqlite:///{parsed.database}", pool_size=1, max_overflow=0,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(writer, "connect")
    def _writer_pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin where SQLAlchemy begins them (below)
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(writer, "begin")
    def _begin_immediate(conn: Connection) -> None:
        # The write lock from the first statement on: what the unit reads cannot change before it writes.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return Database(engine, reader, key_reader, writer)


def _query_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only=ON")


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_database(Path(parsed.database))  # owner-only, and so its -wal and -shm files
        database = parsed.database or ":memory:"

        async def connect() -> sqlite_driver.Connection:
            return await sqlite_driver.connect(database, timeout=30)

        # SQLite has one writer. One pooled connection makes concurrent requests queue for it in
        # the event loop, instead of colliding on the file lock and sleeping in SQLite's busy handler.
        # Closing a connection already rolls back what it began, so the pool's own reset would be
        # a second, wasted round trip to the database thread.
        engine = create_async_engine(url, async_creator=connect, pool_size=1, max_overflow=0, pool_timeout=60,
                                     pool_reset_on_return=None)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets readers proceed while a payment transition writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # pool_recycle rather than pre-ping: a ping would cost a round trip on every checkout.
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)


async def create_schema(engine: AsyncEngine, metadata: MetaData) -> None:
    """Tables that do not exist yet, and nothing else: for tests' own tables. orderpay's come
    from `upgrade_database`, which also grows existing ones."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def upgrade_database(engine: AsyncEngine, metadata: MetaData) -> SchemaPlan:
    """Pending revisions and additive changes, in one transaction (see `payment_core.migrations`)."""
    async with engine.begin() as conn:
        return await conn.run_sync(upgrade_schema, metadata)


async def database_plan(engine: AsyncEngine, metadata: MetaData) -> SchemaPlan:
    """What `upgrade_database` would do; changes nothing."""
    async with engine.connect() as conn:
        return await conn.run_sync(plan_schema, metadata)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))

