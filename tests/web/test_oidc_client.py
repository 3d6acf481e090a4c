"""The server's requests to the OpenID provider (web/oidc.py), against a provider's endpoints on
loopback that record what they receive: a confidential client authenticates with HTTP Basic and
never puts its secret in a form, a public client names itself; one HTTP client (kept-alive
connections) serves every request while the app runs, and is closed when it stops."""
from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from payment_core.errors import ServiceUnavailable
from payment_core.settings import Settings
from tests.support import free_port, run_async, start_uvicorn
from web.oidc import OidcClient

seen: list[dict[str, Any]] = []


async def record(request: Request) -> dict[str, Any]:
    entry = {"path": request.url.path, "authorization": request.headers.get("authorization"),
             "form": dict(await request.form()), "client_port": request.client.port if request.client else None}
    seen.append(entry)
    return entry


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"

    async def discovery(_: Request) -> JSONResponse:
        return JSONResponse({"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
                             "token_endpoint": f"{issuer}/token", "revocation_endpoint": f"{issuer}/revoke"})

    async def token(request: Request) -> JSONResponse:
        await record(request)
        return JSONResponse({"access_token": "at", "token_type": "Bearer", "expires_in": 60})

    async def revoke(request: Request) -> Response:
        await record(request)
        return Response(status_code=200)

    app = Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/token", token, methods=["POST"]),
                            Route("/revoke", revoke, methods=["POST"])])
    server, thread = start_uvicorn(app, port)
    yield issuer
    server.should_exit = True
    thread.join(10)


def exchange_and_revoke(oidc: OidcClient) -> tuple[list[dict[str, Any]], bool]:
    """A code exchange and a revocation while the client runs; whether its HTTP client was closed after."""
    async def scenario() -> bool:
        async with oidc.running():
            http = oidc.http
            await oidc.token_request({"grant_type": "authorization_code", "code": "c", "redirect_uri": oidc.redirect_url,
                                      "code_verifier": "v" * 43})
            await oidc.revoke("rt-1")
            assert oidc.http is http
        with pytest.raises(ServiceUnavailable):
            oidc.http  # noqa: B018 (the property raises once the app has stopped)
        return http.is_closed

    seen.clear()
    closed = run_async(scenario())
    return list(seen), closed


def test_a_confidential_client_authenticates_with_http_basic(provider: str) -> None:
    oidc = OidcClient(Settings(oidc_issuer=provider, oidc_client_id="web", oidc_client_secret=SecretStr("s3cret")))
    requests, closed = exchange_and_revoke(oidc)
    basic = "Basic " + base64.b64encode(b"web:s3cret").decode()
    assert [r["path"] for r in requests] == ["/token", "/revoke"]
    assert all(r["authorization"] == basic for r in requests)
    assert all("client_secret" not in r["form"] and "client_id" not in r["form"] for r in requests)
    assert requests[0]["form"]["code"] == "c" and requests[1]["form"] == {"token": "rt-1", "token_type_hint": "refresh_token"}
    assert requests[0]["client_port"] == requests[1]["client_port"]  # one client, its connection kept alive
    assert closed


def test_a_public_client_names_itself_in_the_form(provider: str) -> None:
    oidc = OidcClient(Settings(oidc_issuer=provider, oidc_client_id="web"))
    requests, closed = exchange_and_revoke(oidc)
    assert all(r["authorization"] is None and r["form"]["client_id"] == "web" for r in requests)
    assert closed
