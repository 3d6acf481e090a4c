"""The database layer under the stores: what a write commits, a read sees at once; reads can
never write; a failed statement leaves nothing behind; a cancelled request does not wedge the
connection the next request needs. On SQLite (the one-hop driver and the reader thread) and
on PostgreSQL."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Uuid, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from payment_core.db import Database, create_database, notify_after_commit
from payment_core.key_reads import KeyRead
from tests.conftest import BACKENDS
from tests.support import run_async, with_tables

T = TypeVar("T")
METADATA = MetaData()
ITEMS = Table("test_db_items", METADATA, Column("id", Uuid(as_uuid=True), primary_key=True),
              Column("name", String(40), nullable=False, unique=True), Column("n", Integer(), nullable=False))


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else f"sqlite+aiosqlite:///{tmp_path}/t.db"


def with_database(url: str, scenario: Callable[[Database], Awaitable[T]]) -> T:
    """Runs `scenario` on a fresh table."""
    return with_tables(url, METADATA, scenario)


def count_items(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(ITEMS)).scalar_one()


async def insert(db: Database, name: str, n: int = 0) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name=name, n=n))


@pytest.mark.parametrize("read", ["read", "read_by_key"])
def test_a_read_sees_what_a_write_just_committed(url: str, read: str) -> None:
    async def scenario(db: Database) -> list[int]:
        seen = []
        for i in range(20):
            await insert(db, f"item{i}")
            seen.append(await getattr(db, read)(count_items))
        return seen

    assert with_database(url, scenario) == list(range(1, 21))


@pytest.mark.parametrize("read", ["read", "read_by_key"])
def test_reads_can_never_write(url: str, read: str) -> None:
    def sneaky(conn: Connection) -> None:
        conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="sneaky", n=1))
        conn.commit()

    async def scenario(db: Database) -> int:
        with pytest.raises(DBAPIError, match="readonly|read-only"):
            await getattr(db, read)(sneaky)
        return await db.read(count_items)

    assert with_database(url, scenario) == 0


def test_a_failed_write_leaves_nothing_and_the_next_one_works(url: str) -> None:
    async def scenario(db: Database) -> list[str]:
        await insert(db, "taken")
        with pytest.raises(IntegrityError):
            async with db.engine.begin() as conn:
                await conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="half", n=2))
                await conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="taken", n=3))
        await insert(db, "after")
        return await db.read(lambda conn: sorted(conn.execute(select(ITEMS.c.name)).scalars()))

    assert with_database(url, scenario) == ["after", "taken"]


def test_a_cancelled_request_does_not_wedge_the_database(url: str) -> None:
    async def scenario(db: Database) -> list[str]:
        async def abandoned_write() -> None:
            async with db.engine.begin() as conn:
                await conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="cancelled", n=1))
                await asyncio.sleep(10)  # the client went away while the transaction was open

        task = asyncio.create_task(abandoned_write())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await insert(db, "next")
        return await db.read(lambda conn: list(conn.execute(select(ITEMS.c.name)).scalars()))

    assert with_database(url, scenario) == ["next"]  # the cancelled insert was rolled back


def test_concurrent_reads_and_writes_all_land(url: str) -> None:
    async def scenario(db: Database) -> tuple[int, int]:
        counts = await asyncio.gather(*(insert(db, f"w{i}", i) for i in range(50)),
                                      *(db.read(count_items) for _ in range(50)))
        assert all(0 <= seen <= 50 for seen in counts[50:])
        total = await db.read(lambda conn: conn.execute(select(func.sum(ITEMS.c.n))).scalar_one())
        return await db.read(count_items), total

    assert with_database(url, scenario) == (50, sum(range(50)))


def test_the_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    async def scenario(db: Database) -> str:
        async with db.engine.connect() as conn:
            return (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()

    assert with_database(f"sqlite+aiosqlite:///{tmp_path}/wal.db", scenario) == "wal"  # readers never wait for the writer



def test_a_read_by_key_on_sqlite_waits_for_a_lock_at_most_briefly(tmp_path: Path) -> None:
    # It runs on the event loop that serves every request: it may wait for a lock 50 ms at most
    # (then it goes through the reader thread), where `read`'s thread waits up to 30 s.
    async def scenario(db: Database) -> tuple[int, int]:
        def busy_timeout(conn: Connection) -> int:
            return conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        return await db.read_by_key(busy_timeout), await db.read(busy_timeout)

    assert with_database(f"sqlite+aiosqlite:///{tmp_path}/t.db", scenario) == (50, 30_000)



@pytest.mark.parametrize("through", ["sqlalchemy", "key_read"])
def test_a_read_by_key_on_a_locked_sqlite_file_waits_in_the_reader_thread_while_the_loop_serves_others(
        tmp_path: Path, through: str) -> None:
    """Another process holds the file's lock for 0.4 s (SQLite's exclusive locking mode: readers
    wait even in WAL mode). The read by key gives up on the event loop after its 50 ms, waits in
    the reader thread instead, and answers once the lock is gone; meanwhile the loop keeps running.
    So whether the read goes through SQLAlchemy or is a `KeyRead` on sqlite3 itself (whose lock
    error is sqlite3's own, not SQLAlchemy's)."""
    kept = select(ITEMS.c.n).where(ITEMS.c.name == "kept")
    key_read = KeyRead(kept)
    read_n: Callable[[Connection], int] = ((lambda conn: conn.execute(kept).scalar_one()) if through == "sqlalchemy"
                                           else (lambda conn: key_read.first(conn, {})[0]))  # type: ignore[index]
    path = tmp_path / "locked.db"
    setup = sqlalchemy.create_engine(f"sqlite:///{path}")
    with setup.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        METADATA.create_all(conn)
        conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="kept", n=7))
    setup.dispose()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # taken before orderpay opens the file, as another process would
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE test_db_items SET n = n")
    threading.Timer(0.4, holder.close).start()  # closing rolls back and lets the lock go

    async def scenario() -> tuple[int, float, float]:
        db = create_database(f"sqlite+aiosqlite:///{path}")
        ticks: list[float] = []

        async def other_requests() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        others = asyncio.create_task(other_requests())
        await asyncio.sleep(0.02)
        try:
            started = time.perf_counter()
            n = await db.read_by_key(read_n)
            waited = time.perf_counter() - started
            await asyncio.sleep(0.03)  # the others' first turn after the read, to see how long they waited
        finally:
            others.cancel()
            await db.dispose()
        return n, waited, max(later - earlier for earlier, later in zip(ticks, ticks[1:]))

    n, waited, longest_stall = run_async(scenario())
    assert n == 7
    assert waited >= 0.25, "it waited for the lock"
    assert longest_stall < 0.3, f"the loop stalled {longest_stall:.3f} s: the wait was not moved off it"


def test_a_write_unit_commits_all_or_nothing(url: str) -> None:
    def two(names: tuple[str, str]) -> Callable[[Connection], int]:
        def work(conn: Connection) -> int:
            for name in names:
                conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name=name, n=1))
            return count_items(conn)  # the unit reads its own writes
        return work

    async def scenario(db: Database) -> tuple[int, list[str]]:
        seen = await db.write(two(("a", "b")))
        with pytest.raises(IntegrityError):
            await db.write(two(("c", "a")))  # the second insert fails: "c" is rolled back with it
        return seen, await db.read(lambda conn: sorted(conn.execute(select(ITEMS.c.name)).scalars()))

    assert with_database(url, scenario) == (2, ["a", "b"])


def test_write_units_and_async_writes_at_once_all_land_one_after_another(url: str) -> None:
    def bump(conn: Connection) -> None:
        # A read then a write: were two units interleaved, both would read the same n and one bump be lost
        # (the row lock on PostgreSQL; on SQLite the unit holds the write lock from its start).
        n = conn.execute(select(ITEMS.c.n).where(ITEMS.c.name == "counter").with_for_update()).scalar_one()
        conn.execute(ITEMS.update().where(ITEMS.c.name == "counter").values(n=n + 1))

    async def scenario(db: Database) -> tuple[int, int]:
        await insert(db, "counter")
        await asyncio.gather(*(db.write(bump) for _ in range(40)), *(insert(db, f"w{i}") for i in range(40)))
        counter = await db.read(lambda conn: conn.execute(select(ITEMS.c.n).where(ITEMS.c.name == "counter")).scalar_one())
        return counter, await db.read(count_items)

    assert with_database(url, scenario) == (40, 41)


def test_after_write_runs_once_a_transaction_that_asked_for_it_has_committed(url: str) -> None:
    async def scenario(db: Database) -> list[tuple[str, int]]:
        calls: list[tuple[str, int]] = []
        db.after_write.append(lambda: calls.append(("after", len(calls))))

        def notifying(name: str, fail: bool = False) -> Callable[[Connection], None]:
            def work(conn: Connection) -> None:
                conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name=name, n=0))
                notify_after_commit(conn)
                if fail:
                    raise RuntimeError("rolled back")
            return work

        await db.write(notifying("one"))
        with pytest.raises(RuntimeError):
            await db.write(notifying("two", fail=True))  # rolled back: no callback
        await db.write(lambda conn: count_items(conn))  # did not ask: no callback
        async with db.engine.begin() as conn:  # an async transaction asks the same way
            await conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="three", n=0))
            notify_after_commit(conn)
        return calls

    assert with_database(url, scenario) == [("after", 0), ("after", 1)]


def test_a_relaxed_write_commits_all_or_nothing_and_only_it_skips_the_flush_wait(url: str) -> None:
    """The relay's bookkeeping (`write_relaxed`) commits without waiting for PostgreSQL's WAL flush;
    every other write still waits for it (a payment's claim must be durable before Stripe is called)."""
    def setting(conn: Connection) -> str | None:
        if conn.dialect.name != "postgresql":
            return None
        return conn.execute(text("SHOW synchronous_commit")).scalar_one()

    def both(conn: Connection) -> str | None:
        conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="kept", n=1))
        notify_after_commit(conn)
        return setting(conn)

    def half(conn: Connection) -> None:
        conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="gone", n=1))
        conn.execute(ITEMS.insert().values(id=uuid.uuid4(), name="kept", n=2))  # unique: refused, both rolled back

    async def scenario(db: Database) -> tuple[str | None, list[str | None], list[str], int]:
        calls: list[str] = []
        db.after_write.append(lambda: calls.append("after"))
        relaxed = await db.write_relaxed(both)
        with pytest.raises(IntegrityError):
            await db.write_relaxed(half)
        durable = [await db.write(setting), await db.write_relaxed(setting), await db.write(setting)]
        names = await db.read(lambda conn: sorted(conn.execute(select(ITEMS.c.name)).scalars()))
        return relaxed, durable, names, len(calls)

    relaxed, settings, names, calls = with_database(url, scenario)
    assert names == ["kept"] and calls == 1
    if url.startswith("postgresql"):
        assert relaxed == "off" and settings == ["on", "off", "on"]
    else:
        assert relaxed is None
