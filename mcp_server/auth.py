"""Who is calling the MCP server, and how a client finds out how to authorize (MCP authorization).

The MCP endpoint is an OAuth 2.0 protected resource. Its metadata (RFC 9728) names the resource
(the endpoint's public URL) and the authorization server (the configured issuer), so a remote
client that gets a 401 can discover where to obtain a token, asking for it with the resource
indicator (RFC 8707). A token is accepted at /mcp when it is signed by the issuer and its `aud`
names either that resource URL (what an RFC 8707 issuer gives by default) or the configured
`ORDERPAY_AUTH_AUDIENCE` (what the REST API accepts, and what the chat backend forwards): both
mean "issued for this server". The REST API keeps accepting its audience only.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from payment_core.errors import ServiceUnavailable, Unauthorized
from payment_core.identity import AuthError, Session, VerifiedTokens
from payment_core.runtime import Runtime
from payment_core.settings import Settings
from mcp_server.toolkit import SessionOf, in_process_session

PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"

SESSION_STATE_KEY = "orderpay_mcp_session"
"""Where the HTTP endpoint leaves the verified session in the ASGI scope's `state`."""


async def session_of_request(ctx: Context) -> Session:
    """The caller of a tool call, authenticated by `McpApp` before the SDK saw the request: over HTTP
    from its `Authorization` header, in-process (`mcp_server.inproc`) from the connecting user's token."""
    request = ctx.request_context.request
    if request is not None:
        session = request.scope.get("state", {}).get(SESSION_STATE_KEY)
    else:
        session = in_process_session.get()
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


def mcp_tokens(runtime: Runtime) -> VerifiedTokens:
    """The verified-token cache of /mcp: the REST verifier's issuer and keys, plus the resource URL
    as an accepted audience."""
    settings = runtime.settings
    audiences = dict.fromkeys((settings.auth_audience, settings.resolved_mcp_resource_url()))
    return VerifiedTokens(runtime.verifier.for_audiences(*audiences), offload=settings.auth_jwks_url is not None)


def authorization_server(settings: Settings) -> str | None:
    """The issuer clients get tokens from, when it is an OAuth authorization server they can discover.
    The development identity provider (issuer `orderpay-dev`) is not one: it has no authorization
    endpoint, so development names none and clients send a token from `orderpay token`."""
    issuer = settings.auth_issuer
    return issuer if settings.auth_jwks_url and issuer.startswith(("https://", "http://")) else None


def protected_resource_metadata(settings: Settings) -> dict[str, Any]:
    """RFC 9728 metadata of the MCP endpoint."""
    metadata: dict[str, Any] = {
        "resource": settings.resolved_mcp_resource_url(),
        "bearer_methods_supported": ["header"],
        "resource_name": "orderpay MCP server",
    }
    server = authorization_server(settings)
    if server:
        metadata["authorization_servers"] = [server]
    if settings.mcp_scopes:
        metadata["scopes_supported"] = list(settings.mcp_scopes)
    return metadata


def resource_metadata_path(settings: Settings) -> str:
    """The path of the MCP endpoint's metadata: the well-known path with the endpoint's path appended (RFC 9728 section 3.1)."""
    return PROTECTED_RESOURCE_PATH + urlsplit(settings.resolved_mcp_resource_url()).path.rstrip("/")


def resource_metadata_url(settings: Settings) -> str:
    """Where the metadata of the MCP endpoint is, on the endpoint's own origin."""
    resource = urlsplit(settings.resolved_mcp_resource_url())
    return f"{resource.scheme}://{resource.netloc}{resource_metadata_path(settings)}"


def bearer_challenge(settings: Settings, *, invalid_token: str | None = None) -> str:
    """The `WWW-Authenticate` value of a 401 from /mcp (RFC 6750 and RFC 9728 section 5.1).
    `invalid_token`: why a presented token was refused (an error code only when one was sent)."""
    params = []
    if invalid_token is not None:
        description = invalid_token.replace("\\", "").replace('"', "'")
        params += ['error="invalid_token"', f'error_description="{description}"']
    params.append(f'resource_metadata="{resource_metadata_url(settings)}"')
    if settings.mcp_scopes:
        params.append(f'scope="{" ".join(settings.mcp_scopes)}"')
    return "Bearer " + ", ".join(params)


def discovery_routes(settings: Settings) -> list[Route]:
    """The metadata at the well-known path, root and path-suffixed forms: clients try both."""
    async def metadata(_: Request) -> JSONResponse:
        # Public and the same for everyone: browser clients (the MCP Inspector) read it cross-origin.
        return JSONResponse(protected_resource_metadata(settings),
                            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})

    paths = dict.fromkeys((PROTECTED_RESOURCE_PATH, resource_metadata_path(settings)))
    return [Route(path, metadata, methods=["GET"]) for path in paths]
