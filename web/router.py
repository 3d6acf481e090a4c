"""`web_router(runtime)`: everything the UI serves, as one router for the host app to include."""
from __future__ import annotations

from fastapi import APIRouter

from payment_core.runtime import Runtime
from web.assets import asset_router
from web.oidc import oidc_router
from web.pages import pages_router
from web.payapi import pay_api_router
from web.paygrants import PayGrants


def web_router(runtime: Runtime) -> APIRouter:
    """`/` (the chat; `/auth/callback` too), `/auth/oidc/...` (OpenID Connect sign-in), `/pay/{token}`, `/pay/result`, `/pay/api/{token}/...` and `/ui/...` (scripts, styles)."""
    grants = PayGrants(runtime)
    router = APIRouter()
    # The pay API first: its paths are longer than, and must not be taken by, `/pay/{token}`.
    router.include_router(pay_api_router(runtime, grants))
    router.include_router(asset_router(runtime.stripe))
    router.include_router(oidc_router(runtime))
    router.include_router(pages_router(runtime, grants))
    return router
