"""The audit trail of each order's payment: append-only, hash-chained entries.

Every step from the tool call that prepared a payment to the charge and any refund is
one entry; each carries the SHA-256 of the one before it (a chain per order), computed
over a canonical JSON of the entry, so a row changed or removed in the database breaks
the chain at that row and `orderpay audit verify` names it. Entries are written in the
transaction of the change they describe, under the order's row lock, so concurrent
steps of one order append one after another.

Entries never hold secrets: callers pass what they choose to record and `scrub` drops
anything named like a secret (client secrets, tokens, pay links, card numbers).
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (Column, Connection, Integer, MetaData, String, Table, Text, UniqueConstraint, Uuid, bindparam,
                        func, or_, select)
from sqlalchemy.ext.asyncio import AsyncConnection

from payment_core.db import Database
from payment_core.clock import iso, utcnow

GENESIS = "0" * 64
_SECRET_KEYS = re.compile(r"secret|token|password|authorization|payurl|paylink|cardnumber|^number$|^cvc$", re.I)
_CARD_NUMBER = re.compile(r"\b\d{13,19}\b")

# Which path applied a Stripe state: start, refresh, webhook or reconciler (set by the reconciler's pass).
audit_path: contextvars.ContextVar[str | None] = contextvars.ContextVar("orderpay_audit_path", default=None)


@contextmanager
def applied_by(path: str) -> Iterator[None]:
    """Entries written inside are marked as applied by `path` (e.g. the reconciler)."""
    token = audit_path.set(path)
    try:
        yield
    finally:
        audit_path.reset(token)


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "sys_paymentaudit",
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("objectName", String(100), nullable=False),
        Column("orderId", String(64), nullable=False),
        Column("seq", Integer(), nullable=False),
        Column("kind", String(40), nullable=False),
        Column("at", String(40), nullable=False),  # ISO time, as text: hashed exactly as stored
        Column("data", Text(), nullable=False),  # canonical JSON, as text for the same reason
        Column("prevHash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        UniqueConstraint("objectName", "orderId", "seq", name="uq_sys_paymentaudit_chain"),
    )


def canonical(value: Any) -> str:
    """One spelling of a JSON value: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of everything an entry says, including the previous hash."""
    body = {key: entry[key] for key in ("objectName", "orderId", "seq", "kind", "at", "prevHash")}
    body["data"] = json.loads(entry["data"]) if isinstance(entry["data"], str) else entry["data"]
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def scrub(value: Any) -> Any:
    """`value` without anything that could be a secret: keys named like one are dropped, and long
    digit runs (a card number pasted into a reason) are masked."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not _SECRET_KEYS.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _CARD_NUMBER.sub("[redacted]", value)
    return value


@dataclass(frozen=True)
class BrokenLink:
    object_name: str
    order_id: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"{self.object_name} {self.order_id}: entry {self.seq}: {self.problem}"


@dataclass(frozen=True)
class ChainEnd:
    """The last entry of an order's chain, which the next entry follows."""

    seq: int
    hash: str


EMPTY_CHAIN = ChainEnd(0, GENESIS)


class AuditTrail:
    def __init__(self, db: Database, metadata: MetaData) -> None:
        self.db = db
        self.table = t = audit_table(metadata)
        # Built once, their values as parameters: building and cache-keying a statement costs more than running it.
        chain = (t.c.objectName == bindparam("object_name")) & (t.c.orderId == bindparam("order_id"))
        self._last = select(t.c.seq, t.c.hash).where(chain).order_by(t.c.seq.desc()).limit(1)
        # The chain's last entry and its entries of one kind, in one statement.
        self._end_and_kind = select(t.c.seq, t.c.hash, t.c.kind, t.c.data).where(
            chain, or_(t.c.kind == bindparam("kind"), t.c.seq == select(func.max(t.c.seq)).where(chain).scalar_subquery()))
        self._insert = t.insert()

    async def append(self, conn: AsyncConnection, lock: Any, object_name: str, order_id: str, kind: str,
                     data: dict[str, Any]) -> dict[str, Any]:
        """`add` in an async transaction."""
        return await conn.run_sync(lambda sync: self.add(sync, object_name, order_id, kind, data, lock=lock))

    def add(self, conn: Connection, object_name: str, order_id: str, kind: str, data: dict[str, Any], *,
            lock: Any | None) -> dict[str, Any]:
        """Append one entry in the caller's transaction. `lock` is the order object's `lock_row_by_id`:
        taking it first makes the appends of one order follow each other (the unique seq is the
        backstop); None when the caller's transaction holds the order's lock already."""
        if lock is not None:
            conn.execute(lock, {"row_id": uuid.UUID(order_id)})
        last = conn.execute(self._last, {"object_name": object_name, "order_id": order_id}).first()
        end = ChainEnd(last.seq, last.hash) if last is not None else EMPTY_CHAIN
        return self.add_after(conn, end, object_name, order_id, [(kind, data)])[-1]

    def end_and_kind(self, conn: Connection, object_name: str, order_id: str, kind: str, *,
                     lock: Any | None) -> tuple[ChainEnd, list[dict[str, Any]]]:
        """The chain's end and the data of its entries of `kind`, read in one statement under the
        order's lock (`lock` as for `add`), for `add_after`."""
        if lock is not None:
            conn.execute(lock, {"row_id": uuid.UUID(order_id)})
        rows = conn.execute(self._end_and_kind, {"object_name": object_name, "order_id": order_id, "kind": kind}).all()
        last = max(rows, key=lambda row: row.seq, default=None)
        end = ChainEnd(last.seq, last.hash) if last is not None else EMPTY_CHAIN
        return end, [json.loads(row.data) for row in rows if row.kind == kind]

    def add_after(self, conn: Connection, end: ChainEnd, object_name: str, order_id: str,
                  entries: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Append `entries` (kind and data each) after `end`, the chain's end as read in this
        transaction under the order's lock, in one statement."""
        at = iso(utcnow())
        rows = []
        for kind, data in entries:
            entry = {"objectName": object_name, "orderId": order_id, "seq": end.seq + 1, "kind": kind, "at": at,
                     "data": canonical(scrub(data)), "prevHash": end.hash}
            entry["hash"] = entry_hash(entry)
            rows.append({"id": uuid.uuid4(), **entry})
            end = ChainEnd(entry["seq"], entry["hash"])
        conn.execute(self._insert, rows)
        return rows

    async def entries(self, object_name: str, order_id: str) -> list[dict[str, Any]]:
        t = self.table
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(t).where(t.c.objectName == object_name, t.c.orderId == order_id)
                                       .order_by(t.c.seq))).all()
        return [_api(row._mapping) for row in rows]

    async def verify(self) -> tuple[int, list[BrokenLink]]:
        """Check every chain; returns (chains checked, the first broken link of each broken chain)."""
        t = self.table
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(t).order_by(t.c.objectName, t.c.orderId, t.c.seq))).all()
        broken: list[BrokenLink] = []
        chains = 0
        current: tuple[str, str] | None = None
        expected_prev, expected_seq, failed = GENESIS, 1, False
        for row in rows:
            entry = dict(row._mapping)
            key = (entry["objectName"], entry["orderId"])
            if key != current:
                current, expected_prev, expected_seq, failed = key, GENESIS, 1, False
                chains += 1
            if failed:
                continue
            problem = None
            if entry["seq"] != expected_seq:
                problem = f"expected entry {expected_seq} here: an entry is missing"
            elif entry["prevHash"] != expected_prev:
                problem = "its previous-hash does not match the entry before it"
            else:
                try:
                    recomputed = entry_hash(entry)
                except ValueError:
                    recomputed = None
                if recomputed != entry["hash"]:
                    problem = "its content does not match its hash (altered)"
            if problem:
                broken.append(BrokenLink(key[0], key[1], entry["seq"], problem))
                failed = True
            expected_prev, expected_seq = entry["hash"], entry["seq"] + 1
        return chains, broken


def _api(columns: Any) -> dict[str, Any]:
    return {"seq": columns["seq"], "kind": columns["kind"], "at": columns["at"], "data": json.loads(columns["data"]),
            "prevHash": columns["prevHash"], "hash": columns["hash"]}
