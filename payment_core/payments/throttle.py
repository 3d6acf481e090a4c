"""A per-user limit on card additions and payment attempts: bursts are the signature of card testing."""
from __future__ import annotations

import logging
import time
from collections import defaultdict, deque

from payment_core.errors import OrderPayError

log = logging.getLogger("orderpay.security")


class TooManyRequests(OrderPayError):
    status = 429
    code = "too_many_requests"


class Throttle:
    """A sliding one-minute window per (user, action), kept in this process.

    With several replicas each enforces its own window, so the effective limit is at most
    replicas × limit — still far below what card testing needs.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def check(self, user_id: str, action: str, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        hits = self._hits[(user_id, action)]
        while hits and now - hits[0] >= 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            log.warning("throttled a burst of payment actions", extra={"userId": user_id, "action": action})
            raise TooManyRequests(f"too many {action} attempts; wait a minute and try again")
        hits.append(now)
