"""How many failed development sign-ins a user name, and a client address, may make a minute.

Password guessing is failures in a row: each failure is remembered for a minute under the user
name and under the address it came from; once either has reached the limit, every attempt
(right password or not) gets 429 with `Retry-After` until the oldest failure leaves the window.
Kept in this process: it guards the development identity provider only, which serves one
process (production signs in through the external issuer).
"""
from __future__ import annotations

import math
import time
from collections import defaultdict, deque

from payment_core.errors import SignInThrottled

WINDOW_SECONDS = 60.0


class LoginAttempts:
    def __init__(self, failures_per_minute: int) -> None:
        self.limit = failures_per_minute
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def check(self, username: str, address: str, *, now: float | None = None) -> None:
        """Raise `SignInThrottled` while the user name or the address is over the limit."""
        now = time.monotonic() if now is None else now
        waits = [self._wait(key, now) for key in _keys(username, address)]
        if max(waits) > 0:
            raise SignInThrottled(math.ceil(max(waits)))

    def failed(self, username: str, address: str, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in _keys(username, address):
            self._failures[key].append(now)

    def _wait(self, key: str, now: float) -> float:
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        while failures and now - failures[0] >= WINDOW_SECONDS:
            failures.popleft()
        if not failures:
            del self._failures[key]  # a forgotten name costs no memory
            return 0.0
        if len(failures) < self.limit:
            return 0.0
        return failures[len(failures) - self.limit] + WINDOW_SECONDS - now


def _keys(username: str, address: str) -> tuple[str, str]:
    return f"user:{username.strip().lower()}", f"address:{address}"
