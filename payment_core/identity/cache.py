"""Sessions of recently verified tokens, shared by the REST API and the MCP server."""
from __future__ import annotations

import base64
import json
import time

import anyio.to_thread

from payment_core.identity.session import Session
from payment_core.identity.tokens import TokenVerifier


class VerifiedTokens:
    """A client sends the same token with every call, and checking its RS256 signature costs
    more than serving a small request. A verified token is trusted again for at most
    `max_age_seconds`, never past its own `exp`, so an expired token, or a key the issuer
    withdrew, stops working within that time. Only tokens that verified are kept, and at
    most `max_entries` of them.
    """

    def __init__(self, verifier: TokenVerifier, *, offload: bool = False, max_age_seconds: float = 60,
                 max_entries: int = 4096) -> None:
        # `offload`: verification may fetch an external issuer's keys, network I/O to keep off the event loop.
        self.verifier, self.offload = verifier, offload
        self.max_age_seconds, self.max_entries = max_age_seconds, max_entries
        self._sessions: dict[str, tuple[Session, float]] = {}

    async def session(self, token: str) -> Session:
        """The token's session; raises `AuthError` when the token is refused."""
        now = time.time()
        cached = self._sessions.get(token)
        if cached is not None and now < cached[1]:
            return cached[0]
        if self.offload:
            session = await anyio.to_thread.run_sync(self.verifier.verify, token)
        else:
            session = self.verifier.verify(token)
        if len(self._sessions) >= self.max_entries:
            self._sessions.pop(next(iter(self._sessions)))  # the oldest entry
        self._sessions[token] = (session, min(now + self.max_age_seconds, _expiry(token)))
        return session


def _expiry(token: str) -> float:
    """The `exp` of a token that just verified (so its payload is the issuer's)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["exp"])
