"""Bearer-token authentication for every API, and the development identity provider's routes."""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from payment_core.api.login_limit import LoginAttempts
from payment_core.contract import RequestContext
from payment_core.errors import ServiceUnavailable, Unauthorized
from payment_core.identity import AuthError, Session, authenticate_demo_user
from payment_core.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def context_of(request: Request) -> RequestContext:
    return request.state.context


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Login required: send the header `Authorization: Bearer <token>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be `Bearer <token>`")
    return token.strip()


async def current_session(request: Request) -> Session:
    """The caller's session from a verified bearer token, or 401."""
    token = bearer_token(request.headers.get("authorization"))
    started = time.perf_counter()
    try:
        session = await runtime_of(request).tokens.session(token)
    except AuthError as exc:
        if exc.reason == "issuer_unreachable":  # our problem, not the caller's: let them retry
            raise ServiceUnavailable(exc.message) from None
        raise Unauthorized(exc.message) from None
    context = context_of(request)
    context.sso_ms = round((time.perf_counter() - started) * 1000)
    context.session = session
    context.session_id = session.session_id
    return session


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=200, description="Demo user name or email.")
    password: str = Field(min_length=1, max_length=200)


def session_json(session: Session) -> dict[str, object]:
    return {
        "userId": session.user_id,
        "email": session.email,
        "fullname": session.full_name,
        "roles": list(session.roles),
    }


def auth_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.get("/auth/me", summary="The session of the bearer token")
    async def me(session: Session = Depends(current_session)) -> dict[str, object]:
        return session_json(session)

    if runtime.issuer is None:
        return router
    issuer = runtime.issuer
    attempts = LoginAttempts(runtime.settings.login_failures_per_minute)

    @router.post("/auth/login", summary="Development sign-in with a demo user's password",
                 description="After too many failures a minute for one user name or from one address: 429 "
                             "with `Retry-After`.")
    async def login(body: LoginRequest, request: Request) -> dict[str, object]:
        address = request.client.host if request.client else "unknown"
        attempts.check(body.username, address)
        user = authenticate_demo_user(body.username, body.password)
        if user is None:
            attempts.failed(body.username, address)
            raise Unauthorized("Invalid username or password")
        token = issuer.issue(user)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": runtime.settings.dev_token_ttl_seconds,
            "user": {"username": user.username, **session_json(runtime.verifier.verify(token))},
        }

    @router.get("/.well-known/jwks.json", summary="Public keys of the development identity provider")
    async def jwks() -> dict[str, object]:
        return issuer.key.jwks()

    return router
