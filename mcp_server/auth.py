"""Who is calling the MCP server: the same bearer tokens as the REST API, checked by the same verifier."""
from __future__ import annotations

from mcp.server.mcpserver import Context

from payment_core.errors import ServiceUnavailable, Unauthorized
from payment_core.identity import AuthError, Session
from payment_core.runtime import Runtime
from mcp_server.toolkit import SessionOf

SESSION_STATE_KEY = "orderpay_mcp_session"
"""Where the HTTP endpoint leaves the verified session in the ASGI scope's `state`."""


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
    async def session_of(_: Context) -> Session:
        try:
            return await runtime.tokens.session(token)
        except AuthError as exc:
            if exc.reason == "issuer_unreachable":
                raise ServiceUnavailable(exc.message) from None
            raise Unauthorized(f"The orderpay token this server was started with is refused: {exc.message}") from None

    return session_of
