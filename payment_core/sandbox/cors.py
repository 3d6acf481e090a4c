"""CORS for a standalone sandbox called from shop pages on other origins, as browsers call
api.stripe.com: only the origins it was told (`SandboxConfig.allowed_origins`), never `*`.

Read on every request, so a test rig can allow an origin it only learns after the sandbox started.
A sandbox with no allowed origins (embedded, same-origin) answers no CORS headers at all.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import SandboxConfig

ALLOW_METHODS = "GET, POST, DELETE"
EXPOSE_HEADERS = "Request-Id, Idempotent-Replayed, Original-Request, Stripe-Version"
MAX_AGE = "600"


class SandboxCors:
    def __init__(self, app: ASGIApp, config: SandboxConfig) -> None:
        self.app, self.config = app, config

    def _allowed(self, origin: str | None) -> bool:
        return origin is not None and origin in self.config.allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return
        if not self._allowed(origin):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"access-control-allow-origin", origin.encode("latin-1")),  # type: ignore[union-attr]
                         (b"access-control-expose-headers", EXPOSE_HEADERS.encode()), (b"vary", b"Origin")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str | None, headers: Headers, send: Send) -> None:
        """A preflight from an allowed origin is answered 200 with what it may send; any other gets
        403 and no allow header, so the browser never sends the request."""
        response: list[tuple[bytes, bytes]] = [(b"vary", b"Origin"), (b"content-length", b"0")]
        status = 403
        if self._allowed(origin):
            status = 200
            requested = headers.get("access-control-request-headers", "")
            response += [(b"access-control-allow-origin", origin.encode("latin-1")),  # type: ignore[union-attr]
                         (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                         (b"access-control-allow-headers", requested.encode("latin-1")),
                         (b"access-control-max-age", MAX_AGE.encode())]
            if headers.get("access-control-request-private-network") == "true":
                response.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": status, "headers": response})
        await send({"type": "http.response.body", "body": b""})
