"""A per-user limit on card additions and payment attempts: bursts are the signature of card testing.

The count lives in the database every replica shares, so three replicas allow what one does.
"""
from __future__ import annotations

import logging
import time

from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, String, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from payment_core.db import Database
from payment_core.errors import TooManyRequests

log = logging.getLogger("orderpay.security")

WINDOW_SECONDS = 60


def throttle_table(metadata: MetaData) -> Table:
    """One row per (user, action, minute): the attempts counted in that minute."""
    return Table(
        "orderpay_throttle",
        metadata,
        Column("userId", String(64), primary_key=True),
        Column("action", String(32), primary_key=True),
        Column("window", BigInteger(), primary_key=True, autoincrement=False),  # unix minute
        Column("hits", Integer(), nullable=False),
    )


class Throttle:
    """A sliding one-minute window per (user, action), counted in the shared database.

    Each attempt is one atomic upsert (`INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1
    RETURNING hits`, and the previous minute's count read in the same statement) on the row of
    the current minute, so concurrent attempts on any replica
    are all counted and none is lost to a read-then-write race. The sliding window is the
    usual estimate from two fixed windows: this minute's count plus the previous minute's,
    weighted by how much of it still lies within the last 60 seconds. A refused attempt is
    counted too: someone hammering the endpoint stays refused until they pause.
    """

    def __init__(self, db: Database, table: Table, per_minute: int) -> None:
        self.db, self.table, self.per_minute = db, table, per_minute
        dialect = db.engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"the card-testing throttle has no atomic upsert for {dialect}")
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        key = (table.c.userId == bindparam("userId")) & (table.c.action == bindparam("action"))
        # The previous minute's count comes back with this minute's, from the same statement.
        previous = table.alias("previous")
        previous_hits = (select(previous.c.hits)
                         .where(previous.c.userId == bindparam("w_user"), previous.c.action == bindparam("w_action"),
                                previous.c.window == bindparam("w_previous"))
                         .scalar_subquery())
        # Built once, with what varies as parameters (building and cache-keying costs more than running).
        self._count = insert(table).on_conflict_do_update(
            index_elements=[table.c.userId, table.c.action, table.c.window],
            set_={"hits": table.c.hits + 1},
        ).returning(table.c.hits, previous_hits.label("previous"))
        self._forget = delete(table).where(key & (table.c.window < bindparam("w_window")))

    async def check(self, user_id: str, action: str, *, now: float | None = None) -> None:
        """Count one attempt in a transaction of its own; TooManyRequests if the last minute already
        holds `per_minute` (the attempt stays counted: it is committed before the refusal)."""
        if not await self.db.write(lambda conn: self.count(conn, user_id, action, now=now)):
            raise self.refusal(user_id, action)

    def count(self, conn: Connection, user_id: str, action: str, *, now: float | None = None) -> bool:
        """Count one attempt in the caller's transaction; whether it is within the limit. A caller
        that refuses must still commit the count, or the burst it refuses would go uncounted."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        key = {"userId": user_id, "action": action}
        hits, previous = conn.execute(self._count, {**key, "window": window, "hits": 1, "w_user": user_id,
                                                    "w_action": action, "w_previous": window - 1}).one()
        previous = previous or 0
        if hits == 1:
            # A new minute: older minutes can no longer count. Keeps the table as small as the set of active users.
            conn.execute(self._forget, {**key, "w_window": window - 1})
        elapsed = (now % WINDOW_SECONDS) / WINDOW_SECONDS
        return hits + previous * (1 - elapsed) <= self.per_minute

    def refusal(self, user_id: str, action: str) -> TooManyRequests:
        """The refusal of an attempt `count` found over the limit (logged), for the caller to raise."""
        log.warning("throttled a burst of payment actions", extra={"userId": user_id, "action": action})
        return TooManyRequests(f"too many {action} attempts; wait a minute and try again")
