"""The Stripe demo frontend of seed 004: `/{service}-api/stripe-demo/{object}`, one per order object."""
from __future__ import annotations

import html
import json
from importlib import resources

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from payment_core.api.auth import context_of, current_session
from payment_core.contract import ok_envelope
from payment_core.identity import Session
from payment_core.payments.service import OrderPayments
from payment_core.stripe_setup import StripeSetup

STATIC = resources.files("payment_core.api") / "static"


def demo_router(order: OrderPayments, stripe: StripeSetup, app_version: str) -> APIRouter:
    obj, service = order.store.obj, order.store.service
    base = f"{service.route_prefix}/stripe-demo/{obj.name}"
    router = APIRouter(prefix=base, tags=[f"{service.name} / {obj.name} payment"])
    config = {
        "servicePrefix": service.route_prefix, "object": obj.name, "plural": obj.plural.lower(),
        "objectPlural": obj.plural, "statusField": obj.order.orderStatusProperty,
        "publishableKey": stripe.publishable_key,
    }
    page = (STATIC / "stripe-demo.html").read_text()
    for key, value in {"{title}": obj.order.orderName, "{object}": obj.name, "{base}": base,
                       "{stripe_js}": stripe.stripe_js_url, "{config}": json.dumps(config)}.items():
        page = page.replace(key, html.escape(value, quote=True))
    headers = {"Content-Security-Policy": stripe.content_security_policy(), "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "same-origin"}

    @router.get("", response_class=HTMLResponse, summary=f"Demo page paying a {obj.name} (sign-in on the page)")
    async def demo_page() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @router.get("/demo.js", include_in_schema=False)
    async def demo_script() -> Response:
        return Response((STATIC / "stripe-demo.js").read_text(), media_type="text/javascript", headers=headers)

    @router.get("/demo.css", include_in_schema=False)
    async def demo_style() -> Response:
        return Response((STATIC / "stripe-demo.css").read_text(), media_type="text/css", headers=headers)

    @router.get("/fetch-created-order", summary=f"The {obj.name} the demo pays (owner only)")
    async def fetch_created_order(request: Request, order_id: str = Query(alias="orderId", max_length=100),
                                  session: Session = Depends(current_session)) -> JSONResponse:
        record = await order.store.get(session, order_id)
        return JSONResponse(ok_envelope(context_of(request), method="GET", action="get", data_name=obj.name,
                                        payload={obj.name: record}, row_count=1, app_version=app_version))

    return router
