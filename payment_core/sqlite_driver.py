"""An asyncio SQLite driver for SQLAlchemy's `sqlite+aiosqlite` dialect: one thread hop per statement.

sqlite3 blocks, so its calls must leave the event loop. aiosqlite hops to its thread and
back once for each cursor operation (open, execute, fetch, close, then a rollback), about
five round trips for a primary-key read — most of the cost of such a read on a small
machine. This driver does the execute and the fetch in one hop, opens and closes cursors
without hopping, and skips commit and rollback when no transaction is open (sqlite3 begins
one only before a write), so a read costs one hop and a write transaction two.

It plugs in through `create_async_engine(..., async_creator=...)`; the dialect, its type
handling and its error mapping stay SQLAlchemy's own (sqlite3's exception classes are
aiosqlite's too).
"""
from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = object()


class Worker:
    """The one thread that touches a sqlite3 connection; jobs run in submission order."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            future, function, args = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = function(*args)
            except BaseException as exc:  # handed to the awaiting coroutine, which re-raises it
                error = exc
            if future is not None:
                try:
                    future.get_loop().call_soon_threadsafe(_settle, future, result, error)
                except RuntimeError:  # the loop has closed: nobody is waiting any more
                    pass

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().create_future()
        self._jobs.put((future, function, args))
        return await future

    def call_soon(self, function: Callable[..., Any], *args: Any) -> None:
        """Run `function` after the jobs already queued, with nobody waiting for its outcome."""
        self._jobs.put((None, function, args))

    def stop(self) -> None:
        """End the thread once the jobs already queued have run."""
        self._jobs.put(_STOP)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled; the statement ran all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Cursor:
    """Results are fetched together with the execute, in the same hop."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None

    async def execute(self, operation: str, parameters: Sequence[Any] | None = None) -> Cursor:
        outcome = await self._connection._worker.call(_execute, self._connection._connection, operation, parameters)
        self.description, self._rows, self.rowcount, self.lastrowid = outcome
        return self

    async def executemany(self, operation: str, seq_of_parameters: Sequence[Sequence[Any]]) -> Cursor:
        self.rowcount = await self._connection._worker.call(_executemany, self._connection._connection, operation,
                                                            list(seq_of_parameters))
        self.description, self._rows = None, []
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


def _execute(connection: sqlite3.Connection, operation: str,
             parameters: Sequence[Any] | None) -> tuple[Any, list[Any], int, int | None]:
    cursor = connection.execute(operation, parameters or ())
    try:
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _executemany(connection: sqlite3.Connection, operation: str, parameters: list[Sequence[Any]]) -> int:
    cursor = connection.executemany(operation, parameters)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


class Connection:
    """The subset of aiosqlite's connection that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, connection: sqlite3.Connection, worker: Worker) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._worker = worker

    @property
    def isolation_level(self) -> str | None:
        return self._live().isolation_level

    def cursor(self) -> Cursor:
        self._live()
        return Cursor(self)

    async def commit(self) -> None:
        connection = self._live()
        if connection.in_transaction:  # sqlite3 only begins a transaction before a write
            await self._worker.call(connection.commit)

    async def rollback(self) -> None:
        connection = self._live()
        if connection.in_transaction:
            await self._worker.call(connection.rollback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self._worker.call(lambda: self._live().create_function(*args, **kwargs))

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await self._worker.call(connection.close)
            finally:
                self._worker.stop()

    def stop(self) -> None:
        """Drop the connection without waiting (SQLAlchemy's terminate, e.g. at garbage collection)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._worker.call_soon(connection.close)
            self._worker.stop()

    def _live(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")  # SQLAlchemy's aiosqlite dialect maps this to OperationalError
        return self._connection


async def connect(database: str, *, timeout: float = 30.0) -> Connection:
    worker = Worker(f"orderpay-sqlite:{database}")
    try:
        connection = await worker.call(
            lambda: sqlite3.connect(database, timeout=timeout, check_same_thread=False, isolation_level="")
        )
    except BaseException:
        worker.stop()
        raise
    return Connection(connection, worker)
