"""The clock, in one place: every timestamp orderpay writes is `utcnow()`, and every one it answers
is `iso()` — UTC with milliseconds, as JavaScript's toISOString() writes it."""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as JavaScript's toISOString() writes it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
