"""The database connection: SQLite by default, PostgreSQL through one URL."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import SingletonThreadPool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from payment_core import sqlite_driver
from payment_core.migrations import SchemaPlan, plan_schema, upgrade_schema
from payment_core.files import private_database

T = TypeVar("T")


class Database:
    """The async engine that every write goes through, and `read` for the hot reads.

    A read is one unit of work: a plain function given a connection, run in one step. On a
    SQLite file it runs in a reader thread on a connection of its own (WAL lets it read while
    the writer writes; `query_only` keeps it from ever writing), which costs one thread hop
    instead of SQLAlchemy's asyncio machinery for each connect, statement and close — most of
    the time of a primary-key read. On PostgreSQL it runs in a read-only transaction on a
    pooled async connection through `run_sync`, one greenlet for the whole unit. A read of a row
    by its key (`read_by_key`) skips even the thread hop on SQLite.
    """

    def __init__(self, engine: AsyncEngine, reader: Engine | None = None, key_reader: Engine | None = None) -> None:
        self.engine = engine
        self._read_only = engine.execution_options(postgresql_readonly=True) if engine.dialect.name == "postgresql" else engine
        self._reader = reader
        self._reader_thread = sqlite_driver.Worker("orderpay-sqlite-reader") if reader is not None else None
        self._key_reader = key_reader
        self._key_connections = threading.local()

    async def read(self, work: Callable[[Connection], T]) -> T:
        if self._reader_thread is not None:
            return await self._reader_thread.call(self._read_here, work)
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
        except OperationalError:
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

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._key_reader is not None:
            held = getattr(self._key_connections, "conn", None)
            if held is not None:
                held.close()
            self._key_reader.dispose()  # and the connections other threads held
        if self._reader_thread is not None and self._reader is not None:
            await self._reader_thread.call(self._reader.dispose)
            self._reader_thread.stop()


def create_database(url: str) -> Database:
    engine = create_engine(url)
    parsed = make_url(url)
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
    return Database(engine, reader, key_reader)


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

