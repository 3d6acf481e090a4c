"""The sandbox's state: API objects, idempotency records and scheduled jobs in one SQLite database.

One lock serialises every transaction, which is what makes concurrent requests safe: each API call reads
and writes its objects inside a single transaction, so no two calls interleave on the same payment intent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from payment_core.files import private_database

from .errors import StripeError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    private TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS objects_type ON objects (type, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    due REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
"""

IDEMPOTENCY_TTL = 24 * 3600.0


@dataclass(frozen=True)
class IdempotentResponse:
    key: str
    method: str
    path: str
    fingerprint: str
    status: int
    body: str
    request_id: str


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    due: float
    attempts: int


class Store:
    """SQLite-backed state; `path=None` keeps it in memory for the life of the process."""

    def __init__(self, path: Path | None, *, fresh: bool = False) -> None:
        if path is not None:
            if fresh:
                for suffix in ("", "-wal", "-shm"):
                    Path(str(path) + suffix).unlink(missing_ok=True)
            # Buyers' names, e-mails and cards: owner-only, and so are the -wal and -shm files SQLite adds.
            private_database(path)
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._depth = 0
        self._jobs_added = False
        # Called after a commit that scheduled work, so the job runner wakes without polling.
        self.on_jobs_added: Callable[[], None] | None = None
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Serialise and make atomic a unit of work; nested calls join the outer transaction.

        A StripeError marked `recorded` still commits: a declined payment is an outcome to keep, not a failure to undo.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except StripeError as exc:
                if exc.recorded:
                    self._commit()
                else:
                    self._rollback()
                raise
            except BaseException:
                self._rollback()
                raise
            else:
                self._commit()
            finally:
                self._depth = 0

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")
        self._jobs_added = False

    def _commit(self) -> None:
        self._db.execute("COMMIT")
        if self._jobs_added:
            self._jobs_added = False
            if self.on_jobs_added is not None:
                self.on_jobs_added()

    # API objects

    def get(self, object_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM objects WHERE id = ?", (object_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._db.execute(
                "INSERT INTO objects (id, type, data) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data",
                (obj["id"], obj["object"], json.dumps(obj)),
            )
        return obj

    def delete(self, object_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM objects WHERE id = ?", (object_id,))

    def get_private(self, object_id: str) -> dict[str, Any]:
        """Facts Stripe keeps but never shows, such as which test card is behind a payment method."""
        with self._lock:
            row = self._db.execute("SELECT private FROM objects WHERE id = ?", (object_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def set_private(self, object_id: str, private: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("UPDATE objects SET private = ? WHERE id = ?", (json.dumps(private), object_id))

    def list(
        self,
        type: str,
        *,
        filters: dict[str, str] | None = None,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first, with Stripe's cursor pagination; returns (page, has_more)."""
        clauses = ["type = ?"]
        args: list[Any] = [type]
        for field, value in (filters or {}).items():
            # Field names come from code, never from requests.
            clauses.append(f"json_extract(data, '$.{field}') = ?")
            args.append(value)
        order = "DESC"
        cursor = starting_after or ending_before
        if cursor is not None:
            clauses.append(f"seq {'<' if starting_after else '>'} (SELECT seq FROM objects WHERE id = ?)")
            args.append(cursor)
            order = "DESC" if starting_after else "ASC"
        sql = f"SELECT data FROM objects WHERE {' AND '.join(clauses)} ORDER BY seq {order} LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit + 1)).fetchall()
        items = [json.loads(row[0]) for row in rows[:limit]]
        if order == "ASC":
            items.reverse()
        return items, len(rows) > limit

    # Idempotency

    def get_idempotent(self, key: str) -> IdempotentResponse | None:
        with self._lock:
            self._db.execute("DELETE FROM idempotency WHERE created < ?", (time.time() - IDEMPOTENCY_TTL,))
            row = self._db.execute(
                "SELECT key, method, path, fingerprint, status, body, request_id FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
        return IdempotentResponse(*row) if row else None

    def save_idempotent(self, record: IdempotentResponse) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.key, record.method, record.path, record.fingerprint, record.status, record.body, record.request_id, time.time()),
            )

    def forget_idempotency_keys(self) -> int:
        """Drop every saved key (Stripe forgets them after 24 hours); returns how many there were."""
        with self._lock:
            return self._db.execute("DELETE FROM idempotency").rowcount

    # Jobs: webhook deliveries and delayed settlements, kept here so they survive a restart.

    def add_job(self, kind: str, payload: dict[str, Any], due: float) -> None:
        with self._lock:
            self._db.execute("INSERT INTO jobs (kind, payload, due) VALUES (?, ?, ?)", (kind, json.dumps(payload), due))
            self._jobs_added = True
        if not self._depth and self.on_jobs_added is not None:
            self.on_jobs_added()

    def due_jobs(self, now: float, exclude: set[int]) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, payload, due, attempts FROM jobs WHERE due <= ? ORDER BY due, id", (now,)
            ).fetchall()
        return [Job(row[0], row[1], json.loads(row[2]), row[3], row[4]) for row in rows if row[0] not in exclude]

    def next_job_due(self, exclude: set[int]) -> float | None:
        with self._lock:
            rows = self._db.execute("SELECT id, due FROM jobs ORDER BY due").fetchall()
        return next((due for job_id, due in rows if job_id not in exclude), None)

    def retry_job(self, job_id: int, due: float) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET due = ?, attempts = attempts + 1 WHERE id = ?", (due, job_id))

    def finish_job(self, job_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def reset(self) -> None:
        with self.transaction():
            for table in ("objects", "idempotency", "jobs"):
                self._db.execute(f"DELETE FROM {table}")
