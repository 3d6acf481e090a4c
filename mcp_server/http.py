"""The MCP endpoint over streamable HTTP, as an ASGI app the REST application routes `/mcp` to.

Stateless (a fresh SDK transport per request, JSON responses), so any replica
can answer any request; GET (a server-to-client stream) and DELETE (ending a
session) have nothing to serve and answer 405 with `Allow: POST`. Before the
SDK sees a request, it passes two checks: a browser `Origin` must be the
server's own (`ORDERPAY_PUBLIC_URL`) or listed, as the MCP spec requires against
DNS rebinding (403 otherwise); and the bearer token must verify, exactly as for
the REST API (401 otherwise).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from urllib.parse import urlsplit

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from payment_core.contract import error_body
from payment_core.identity import AuthError, Session
from payment_core.runtime import Runtime
from mcp_server.auth import SESSION_STATE_KEY, bearer_challenge, discovery_routes, mcp_tokens, session_of_request
from mcp_server.server import build_server

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """The serialized origin (`scheme://host[:port]`, as browsers send it) of an absolute URL."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


class McpApp:
    """ASGI app serving MCP at whatever path it is routed from (route it at `/mcp`).

    Starlette runs no lifespan for routed sub-apps, so the host must keep
    `running()` entered while it serves requests.
    """

    def __init__(self, runtime: Runtime, *, allowed_origins: Iterable[str] = ()) -> None:
        self.runtime = runtime
        self.tokens = mcp_tokens(runtime)
        self.allowed_origins = frozenset(
            origin_of(url) for url in (runtime.settings.resolved_public_url(), *allowed_origins)
        )
        self.server = build_server(runtime, session_of_request)
        # Builds the SDK's session manager; the Starlette app it returns is not used, since this
        # class is the endpoint. Host and Origin checks are ours (below): the SDK's would also pin
        # the Host header, which breaks behind proxies and internal service names.
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            max_request_body_size=runtime.settings.max_body_bytes,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    def running(self) -> AbstractAsyncContextManager[None]:
        """Keep entered while serving: it runs the SDK's task group for the requests in flight."""
        return self.server.session_manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"the MCP endpoint serves HTTP, not {scope['type']}")
        if scope["method"] not in ("POST", "OPTIONS"):
            # Stateless: there is no session whose server-initiated messages a GET stream could carry,
            # nor one to DELETE; the streamable HTTP transport lets a server answer 405 for both.
            await _refuse(scope, send, 405, "method_not_allowed",
                          f"{scope['method']} is not served here: this MCP endpoint is stateless, send requests "
                          "with POST", allow="POST")
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin):
            await _refuse(scope, send, 403, "forbidden", f"Origin {origin} may not use this MCP endpoint")
            return
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _refuse(scope, send, 401, "unauthorized",
                          "Login required: send the header `Authorization: Bearer <token>`",
                          challenge=bearer_challenge(self.runtime.settings))
            return
        try:
            session = await self.authenticate(token)
        except AuthError as exc:
            if exc.reason == "issuer_unreachable":  # our problem, not the caller's: let them retry
                await _refuse(scope, send, 503, "service_unavailable", exc.message)
            else:
                await _refuse(scope, send, 401, "unauthorized", exc.message,
                              challenge=bearer_challenge(self.runtime.settings, invalid_token=exc.message))
            return
        scope.setdefault("state", {})[SESSION_STATE_KEY] = session
        await self.server.session_manager.handle_request(scope, receive, send)

    async def authenticate(self, token: str) -> Session:
        """The session of a bearer token, as every request to this server is checked (over HTTP and
        in-process alike); raises `AuthError` for a token that does not verify or has expired."""
        return await self.tokens.session(token.strip())

    def _origin_allowed(self, origin: str) -> bool:
        try:
            return origin_of(origin) in self.allowed_origins
        except ValueError:  # `null` (sandboxed frames, file://) and anything else that is no origin
            return False


def create_mcp_app(runtime: Runtime, *, allowed_origins: Iterable[str] = ()) -> McpApp:
    """The MCP endpoint for `runtime`; `allowed_origins` are browser origins allowed besides the server's own."""
    return McpApp(runtime, allowed_origins=allowed_origins)


def route_mcp(app: Starlette, mcp_app: McpApp) -> None:
    """Route `/mcp` to the endpoint and serve its OAuth protected resource metadata beside it.
    The host still keeps `mcp_app.running()` entered in its lifespan."""
    app.add_route("/mcp", mcp_app)
    app.router.routes.extend(discovery_routes(mcp_app.runtime.settings))


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str, *, challenge: str | None = None,
                  allow: str | None = None) -> None:
    context = scope.get("state", {}).get("context")  # the REST app's request context, when routed from it
    body = json.dumps(error_body(status, message, code=code,
                                 request_id=getattr(context, "request_id", None))).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if allow is not None:
        headers.append((b"allow", allow.encode()))
    if challenge is not None:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
