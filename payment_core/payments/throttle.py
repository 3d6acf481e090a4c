"""A per-user limit on card additions and payment attempts: bursts are the signature of card testing.

The count lives in the database every replica shares, so three replicas allow what one does.
"""
from __future__ import annotations

import logging
import time

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, delete
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
    RETURNING hits`) on the row of the current minute, so concurrent attempts on any replica
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
        statement = insert(table)
        self._count = statement.on_conflict_do_update(
            index_elements=[table.c.userId, table.c.action, table.c.window],
            set_={"hits": table.c.hits + 1},
        ).returning(table.c.hits)

    async def check(self, user_id: str, action: str, *, now: float | None = None) -> None:
        """Count one attempt; TooManyRequests if the last minute already holds `per_minute`."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        t = self.table
        key = (t.c.userId == user_id) & (t.c.action == action)
        async with self.db.engine.begin() as conn:
            hits = (await conn.execute(self._count, {"userId": user_id, "action": action, "window": window, "hits": 1})
                    ).scalar_one()
            previous = (await conn.execute(t.select().with_only_columns(t.c.hits).where(key & (t.c.window == window - 1)))
                        ).scalar_one_or_none() or 0
            # Older minutes can no longer count: keep the table as small as the set of active users.
            await conn.execute(delete(t).where(key & (t.c.window < window - 1)))
        elapsed = (now % WINDOW_SECONDS) / WINDOW_SECONDS
        estimate = hits + previous * (1 - elapsed)
        if estimate > self.per_minute:
            log.warning("throttled a burst of payment actions", extra={"userId": user_id, "action": action})
            raise TooManyRequests(f"too many {action} attempts; wait a minute and try again")
