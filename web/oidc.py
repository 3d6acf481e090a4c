"""Sign-in with OpenID Connect for the web UI: the authorization code flow with PKCE.

The browser starts the flow (its PKCE verifier and `state` stay in the tab's sessionStorage)
and comes back to `/auth/callback`. This server makes the token request — with the client
secret when there is one, which a page must never hold — checks that the access token is one
the APIs accept, and gives the page the access token: the APIs take bearer tokens from the page,
exactly as with the development sign-in. The refresh token never reaches JavaScript: it lives
in an HttpOnly, SameSite=Strict cookie scoped to `/auth/oidc`, read only by `/auth/oidc/refresh`.
Nothing is kept on the server, so any replica serves any step.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from payment_core.api.auth import session_json
from payment_core.errors import BadInput, ServiceUnavailable, Unauthorized
from payment_core.identity import AuthError
from payment_core.runtime import Runtime
from payment_core.settings import Settings

REFRESH_COOKIE = "orderpay_oidc_refresh"
COOKIE_PATH = "/auth/oidc"
DISCOVERY_TTL_SECONDS = 3600
NO_STORE = {"Cache-Control": "no-store"}


class ProviderMetadata:
    """The provider's discovery document, fetched on first use and kept for an hour."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._document: dict[str, Any] | None = None
        self._fetched = 0.0

    async def get(self, http: httpx.AsyncClient) -> dict[str, Any]:
        if self._document is None or time.monotonic() - self._fetched > DISCOVERY_TTL_SECONDS:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                answer = await http.get(url)
                answer.raise_for_status()
                document = answer.json()
            except (httpx.HTTPError, ValueError):
                raise ServiceUnavailable("the identity provider cannot be reached; try again in a moment") from None
            # OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
            if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip("/") != self.issuer:
                raise ServiceUnavailable("the identity provider's discovery document names another issuer")
            if not document.get("authorization_endpoint") or not document.get("token_endpoint"):
                raise ServiceUnavailable("the identity provider's discovery document has no authorization or token endpoint")
            self._document, self._fetched = document, time.monotonic()
        return self._document


class CodeExchange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=4096, description="The authorization code the provider sent back.")
    codeVerifier: str = Field(min_length=43, max_length=128, description="The PKCE verifier of this sign-in (RFC 7636).")


class SignOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idToken: str | None = Field(None, max_length=16384, description="The ID token, sent to the provider as id_token_hint.")


def _expires_in(tokens: dict[str, Any]) -> int:
    """Seconds the access token lives: `expires_in`, else its own `exp` claim."""
    if isinstance(tokens.get("expires_in"), int | float):
        return int(tokens["expires_in"])
    try:
        payload = tokens["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return max(0, int(claims["exp"] - time.time()))
    except (KeyError, IndexError, ValueError, TypeError):
        return 300


class OidcClient:
    """The server's half of the web UI's sign-in: requests to the provider, over one HTTP client
    for the process (its connections kept alive), open while `running()` (the app's lifespan)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client_id = settings.oidc_client_id or ""
        self.secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        self.redirect_url = settings.resolved_oidc_redirect_url()
        self.metadata = ProviderMetadata(settings.resolved_oidc_issuer())
        self.secure_cookie = urlsplit(self.redirect_url).scheme == "https"
        self._http: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def running(self, _app: Any = None) -> AsyncIterator[None]:
        """Opens the HTTP client, and closes it on shutdown."""
        async with httpx.AsyncClient(timeout=10) as http:
            self._http = http
            try:
                yield
            finally:
                self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise ServiceUnavailable("sign-in is not running yet; try again in a moment")
        return self._http

    async def discovery(self) -> dict[str, Any]:
        return await self.metadata.get(self.http)

    def _authenticated(self, form: dict[str, str]) -> tuple[dict[str, str], tuple[str, str] | None]:
        """The form and HTTP auth of a request to the provider's token or revocation endpoint: a
        confidential client authenticates with its secret (HTTP Basic, `client_secret_basic`), a
        public client only names itself in the form."""
        if self.secret:
            return form, (self.client_id, self.secret)
        return {**form, "client_id": self.client_id}, None

    async def token_request(self, form: dict[str, str]) -> dict[str, Any]:
        document = await self.discovery()
        form, auth = self._authenticated(form)
        try:
            answer = await self.http.post(document["token_endpoint"], data=form, auth=auth)
        except httpx.HTTPError:
            raise ServiceUnavailable("the identity provider cannot be reached; try again in a moment") from None
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code >= 500:
            raise ServiceUnavailable("the identity provider failed to answer; try again in a moment")
        if answer.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            reason = body.get("error") if isinstance(body, dict) else None
            raise Unauthorized(f"the identity provider refused the sign-in ({reason or answer.status_code}); sign in again")
        return body

    async def end_session_url(self, id_token: str | None) -> str | None:
        document = await self.discovery()
        endpoint = document.get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"client_id": self.client_id, "post_logout_redirect_uri": f"{self.settings.resolved_public_url()}/"}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    async def revoke(self, refresh_token: str) -> None:
        """Best effort: the provider forgets the refresh token (RFC 7009) if it can."""
        document = await self.discovery()
        endpoint = document.get("revocation_endpoint")
        if not endpoint:
            return
        form, auth = self._authenticated({"token": refresh_token, "token_type_hint": "refresh_token"})
        try:
            await self.http.post(endpoint, data=form, auth=auth)
        except httpx.HTTPError:
            pass  # the cookie is gone anyway; the token expires on its own


def _require_json(request: Request) -> None:
    """A cross-site form cannot send JSON without a CORS preflight this server never grants."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise BadInput("send this request as application/json")


def oidc_router(runtime: Runtime) -> APIRouter:
    """`/auth/oidc/config|token|refresh|logout`; empty when OpenID Connect sign-in is not configured."""
    if not runtime.settings.oidc_enabled:
        return APIRouter(prefix=COOKIE_PATH, tags=["auth"])
    oidc = OidcClient(runtime.settings)
    # The router's lifespan joins the app's (FastAPI merges it when the router is included).
    router = APIRouter(prefix=COOKIE_PATH, tags=["auth"], lifespan=oidc.running)

    async def signed_in(tokens: dict[str, Any]) -> JSONResponse:
        """The page's view of a token answer, once the APIs are known to accept its access token."""
        access_token = tokens["access_token"]
        try:
            session = await runtime.tokens.session(access_token)
        except AuthError as exc:
            raise Unauthorized(f"the identity provider's token is not accepted by this server: {exc.message}") from None
        refresh_token = tokens.get("refresh_token")
        body = {"access_token": access_token, "token_type": "Bearer", "expires_in": _expires_in(tokens),
                "id_token": tokens.get("id_token"), "refreshable": isinstance(refresh_token, str),
                "user": session_json(session)}
        response = JSONResponse(body, headers=NO_STORE)
        if isinstance(refresh_token, str):
            response.set_cookie(REFRESH_COOKIE, refresh_token, max_age=30 * 86400, path=COOKIE_PATH,
                                httponly=True, samesite="strict", secure=oidc.secure_cookie)
        return response

    @router.get("/config", summary="Where the web UI sends a buyer to sign in")
    async def config() -> JSONResponse:
        document = await oidc.discovery()
        return JSONResponse({
            "authorizationEndpoint": document["authorization_endpoint"],
            "clientId": oidc.client_id,
            "scopes": runtime.settings.oidc_scopes,
            "redirectUrl": oidc.redirect_url,
        }, headers=NO_STORE)

    @router.post("/token", summary="Exchange the authorization code (PKCE) for the buyer's access token")
    async def token(body: CodeExchange, request: Request) -> JSONResponse:
        _require_json(request)
        tokens = await oidc.token_request({
            "grant_type": "authorization_code", "code": body.code, "redirect_uri": oidc.redirect_url,
            "code_verifier": body.codeVerifier})
        return await signed_in(tokens)

    @router.post("/refresh", summary="A fresh access token from the refresh token in the sign-in cookie")
    async def refresh(request: Request) -> JSONResponse:
        _require_json(request)
        refresh_token = request.cookies.get(REFRESH_COOKIE)
        if not refresh_token:
            raise Unauthorized("no sign-in to renew; sign in again")
        tokens = await oidc.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        tokens.setdefault("refresh_token", refresh_token)  # a provider that does not rotate keeps the old one valid
        return await signed_in(tokens)

    @router.post("/logout", summary="Forget the sign-in here; where to end it at the provider")
    async def logout(body: SignOut, request: Request) -> JSONResponse:
        _require_json(request)
        refresh_token = request.cookies.get(REFRESH_COOKIE)
        if refresh_token:
            await oidc.revoke(refresh_token)
        url = await oidc.end_session_url(body.idToken)
        response = JSONResponse({"endSessionUrl": url}, headers=NO_STORE)
        response.delete_cookie(REFRESH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                               secure=oidc.secure_cookie)
        return response

    return router
