"""The HTML pages: the chat app, the hosted pay page, the payment result page and the admin page.

Each page is a static template plus the public page config (web/config.py),
written into a `data-config` attribute with HTML escaping; the scripts read it
from there and put every value into the page as text.
"""
from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from payment_core.errors import OrderPayError
from payment_core.paylinks import PayLinkError
from payment_core.runtime import Runtime
from web.assets import ASSET_PREFIX
from web.config import page_config
from web.headers import page_headers
from web.paygrants import PayGrants, grant_session

TEMPLATES = resources.files("web") / "templates"
PLACEHOLDER = re.compile(r"\{(assets|stripe_js|config|title|mode|message)\}")


def render(template: str, values: dict[str, Any]) -> str:
    """The template with each `{name}` replaced by its HTML-escaped value."""
    def value_of(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return html.escape(value if isinstance(value, str) else json.dumps(value), quote=True)

    # One pass, so a value that happens to contain `{name}` is never substituted again.
    return PLACEHOLDER.sub(value_of, (TEMPLATES / template).read_text())


def pages_router(runtime: Runtime, grants: PayGrants) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    config = page_config(runtime)
    common = {"assets": ASSET_PREFIX, "stripe_js": runtime.stripe.stripe_js_url, "config": config,
              "title": config["appTitle"]}
    chat_page = render("chat.html", common)
    pay_page = render("pay.html", {**common, "mode": "pay"})
    result_page = render("pay.html", {**common, "mode": "result"})
    admin_page = render("admin.html", common)

    favicon = (resources.files("web") / "static" / "favicon.svg").read_bytes()

    @router.get("/favicon.ico")
    async def favicon_ico() -> Response:
        # Browsers ask for /favicon.ico whatever the page says: the same icon, not a 404 on every page.
        return Response(favicon, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @router.get("/", response_class=HTMLResponse)
    async def chat() -> HTMLResponse:
        return HTMLResponse(chat_page, headers=page_headers(runtime.stripe))

    @router.get("/admin", response_class=HTMLResponse)
    async def admin() -> HTMLResponse:
        # The page is public; what it shows comes from the API, which answers administrators only.
        return HTMLResponse(admin_page, headers=page_headers(runtime.stripe))

    # Where the OpenID provider sends the buyer back with `code` and `state`: the chat page
    # finishes the sign-in. Like a pay link, the URL carries a secret: no Referer, no cache.
    @router.get("/auth/callback", response_class=HTMLResponse)
    async def sign_in_callback() -> HTMLResponse:
        return HTMLResponse(chat_page, headers=page_headers(runtime.stripe, capability_url=True))

    # Declared before /pay/{token}, which would otherwise take "result" for a token.
    @router.get("/pay/result", response_class=HTMLResponse)
    async def pay_result() -> HTMLResponse:
        return HTMLResponse(result_page, headers=page_headers(runtime.stripe, capability_url=True))

    @router.get("/pay/{token}", response_class=HTMLResponse)
    async def pay(token: str) -> HTMLResponse:
        headers = page_headers(runtime.stripe, capability_url=True)
        try:
            grant = grants.grant(token)
            # The page opens only while the link can still pay: unused, its order unpaid, its price unchanged.
            await grants.payable(grant, grant_session(grant))
        except (PayLinkError, OrderPayError) as exc:
            # A page a person can read, not JSON: they followed a link.
            body = render("payerror.html", {**common, "message": exc.message})
            return HTMLResponse(body, status_code=exc.status, headers=headers)
        return HTMLResponse(pay_page, headers=headers)

    return router
