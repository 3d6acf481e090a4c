"""Who is calling the MCP server: the same bearer tokens as the REST API, checked by the same verifier."""
from __future__ import annotations

import base64
import json
import time

import anyio.to_thread
from mcp.server.mcpserver import Context

from payment_core.errors import ServiceUnavailable, Unauthorized
from payment_core.identity import AuthError, Session
from payment_core.runtime import Runtime
from mcp_server.toolkit import SessionOf

SESSION_STATE_KEY = "orderpay_mcp_session"
"""Where the HTTP endpoint leaves the verified session in the ASGI scope's `state`."""


async def verify_token(runtime: Runtime, token: str) -> Session:
    """The session of a bearer token; raises `AuthError` when the token is refused."""
    if runtime.settings.auth_jwks_url:
        # Fetching an external issuer's keys is network I/O: keep it off the event loop.
        return await anyio.to_thread.run_sync(runtime.verifier.verify, token)
    return runtime.verifier.verify(token)


class VerifiedTokens:
    """Sessions of recently verified tokens.

    An MCP client sends the same token with every call, and checking its RS256
    signature costs more than serving a small tool call. A verified token is
    trusted again for at most `max_age_seconds`, never past its own `exp`, so
    an expired token, or a key the issuer withdrew, stops working within that
    time. Only tokens that verified are kept, and at most `max_entries` of them.
    """

    def __init__(self, runtime: Runtime, *, max_age_seconds: float = 60, max_entries: int = 4096) -> None:
        self.runtime, self.max_age_seconds, self.max_entries = runtime, max_age_seconds, max_entries
        self._sessions: dict[str, tuple[Session, float]] = {}

    async def session(self, token: str) -> Session:
        """The token's session; raises `AuthError` when the token is refused."""
        now = time.time()
        cached = self._sessions.get(token)
        if cached is not None and now < cached[1]:
            return cached[0]
        session = await verify_token(self.runtime, token)
        if len(self._sessions) >= self.max_entries:
            self._sessions.pop(next(iter(self._sessions)))  # the oldest entry
        self._sessions[token] = (session, min(now + self.max_age_seconds, _expiry(token)))
        return session


def _expiry(token: str) -> float:
    """The `exp` of a token that just verified (so its payload is the issuer's)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["exp"])


async def session_of_request(ctx: Context) -> Session:
    """The caller of an HTTP tool call, authenticated by `McpApp` before the SDK saw the request."""
    request = ctx.request_context.request
    session = request.scope.get("state", {}).get(SESSION_STATE_KEY) if request is not None else None
    if session is None:
        raise Unauthorized("Login required: send the header `Authorization: Bearer <token>`")
    return session


def session_of_token(runtime: Runtime, token: str) -> SessionOf:
    """The caller of a stdio tool call: the token's user, checked again as calls come so that an
    expired token stops working without restarting the server."""
    tokens = VerifiedTokens(runtime)

    async def session_of(_: Context) -> Session:
        try:
            return await tokens.session(token)
        except AuthError as exc:
            if exc.reason == "issuer_unreachable":
                raise ServiceUnavailable(exc.message) from None
            raise Unauthorized(f"The orderpay token this server was started with is refused: {exc.message}") from None

    return session_of
