"""The sandbox as an ASGI app, standalone (`run_sandbox`) or mounted inside another app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from importlib import resources

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import admin, customers, disputes, events, payment_intents, payment_methods, refunds, threeds
from .api import Handler, api_endpoint, route_path, sandbox_base_url
from .config import SandboxConfig
from .cors import SandboxCors
from .errors import invalid_request
from .jobs import JOBS
from .runtime import Sandbox

BASE_URL_PLACEHOLDER = "__SANDBOX_BASE_URL__"

# (method, path, handler, publishable key allowed). The publishable key reaches only what Stripe.js
# does in a browser: create a card payment method, and read or confirm an intent by its client secret.
API_ROUTES: list[tuple[str, str, Handler, bool]] = [
    ("POST", "/v1/customers", customers.create, False),
    ("GET", "/v1/customers", customers.list_customers, False),
    ("GET", "/v1/customers/{id}", customers.retrieve, False),
    ("POST", "/v1/customers/{id}", customers.update, False),
    ("GET", "/v1/customers/{customer}/payment_methods", payment_methods.list_methods, False),
    ("POST", "/v1/payment_methods", payment_methods.create, True),
    ("GET", "/v1/payment_methods", payment_methods.list_methods, False),
    ("GET", "/v1/payment_methods/{id}", payment_methods.retrieve, False),
    ("POST", "/v1/payment_methods/{id}", payment_methods.update, False),
    ("POST", "/v1/payment_methods/{id}/attach", payment_methods.attach_handler, False),
    ("POST", "/v1/payment_methods/{id}/detach", payment_methods.detach, False),
    ("POST", "/v1/payment_intents", payment_intents.create, False),
    ("GET", "/v1/payment_intents", payment_intents.list_intents, False),
    ("GET", "/v1/payment_intents/{id}", payment_intents.retrieve, True),
    ("POST", "/v1/payment_intents/{id}", payment_intents.update, False),
    ("POST", "/v1/payment_intents/{id}/confirm", payment_intents.confirm, True),
    ("POST", "/v1/payment_intents/{id}/capture", payment_intents.capture, False),
    ("POST", "/v1/payment_intents/{id}/cancel", payment_intents.cancel, False),
    ("GET", "/v1/charges", refunds.list_charges, False),
    ("GET", "/v1/charges/{id}", refunds.retrieve_charge, False),
    ("POST", "/v1/refunds", refunds.create, False),
    ("GET", "/v1/refunds", refunds.list_refunds, False),
    ("GET", "/v1/refunds/{id}", refunds.retrieve, False),
    ("GET", "/v1/disputes", disputes.list_disputes, False),
    ("GET", "/v1/disputes/{id}", disputes.retrieve, False),
    ("POST", "/v1/disputes/{id}", disputes.update, False),
    ("POST", "/v1/disputes/{id}/close", disputes.accept, False),
    ("GET", "/v1/events", events.list_events, False),
    ("GET", "/v1/events/{id}", events.retrieve, False),
    ("POST", "/_sandbox/reset", admin.reset, False),
    ("POST", "/_sandbox/forget_idempotency_keys", admin.forget_idempotency_keys, False),
    ("POST", "/_sandbox/webhook_endpoints", admin.create_endpoint, False),
    ("GET", "/_sandbox/webhook_endpoints", admin.list_endpoints, False),
    ("DELETE", "/_sandbox/webhook_endpoints/{id}", admin.delete_endpoint, False),
    ("POST", "/_sandbox/refunds", admin.dashboard_refund, False),
    ("POST", "/_sandbox/disputes/{id}/close", admin.decide_dispute, False),
]


@cache
def _stripe_js_source() -> str:
    return resources.files(__package__).joinpath("static/stripe.js").read_text(encoding="utf-8")


async def stripe_js(request: Request) -> Response:
    """The Stripe.js stand-in, told where the sandbox is as the browser reached it."""
    source = _stripe_js_source().replace(json.dumps(BASE_URL_PLACEHOLDER), json.dumps(sandbox_base_url(request)))
    return Response(source, media_type="application/javascript", headers={"Cache-Control": "no-cache"})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "livemode": False})


async def unrecognized(request: Request, exc: Exception) -> Response:
    """Stripe's answer to a URL (or method) it has no endpoint for: its JSON error body, 404."""
    error = invalid_request(
        f"Unrecognized request URL ({request.method}: {route_path(request)}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )
    return JSONResponse(error.body(), status_code=404)


def create_sandbox_app(config: SandboxConfig) -> Starlette:
    """Build the sandbox; `app.state.sandbox.running()` runs its background work (the app's lifespan enters it)."""
    sandbox = Sandbox(config, jobs=JOBS)
    routes = [Route(path, api_endpoint(sandbox, handler, publishable=publishable), methods=[method]) for method, path, handler, publishable in API_ROUTES]
    routes += [Route(path, stripe_js, methods=["GET"]) for path in ("/js/v3/", "/js/v3", "/v3/", "/v3")]
    routes += [
        Route("/3d_secure/{id}", threeds.challenge, methods=["GET"]),
        Route("/3d_secure/{id}", threeds.submit, methods=["POST"]),
        Route("/_sandbox/health", health, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with sandbox.running():
            yield

    # Browsers on the origins it was told may call it cross-origin, as shops call api.stripe.com.
    middleware = [Middleware(SandboxCors, config=config)]
    handlers = {404: unrecognized, 405: unrecognized}
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan, exception_handlers=handlers)
    app.state.sandbox = sandbox
    return app


def run_sandbox(host: str = "127.0.0.1", port: int = 12111, config: SandboxConfig | None = None) -> None:
    """Serve the sandbox until interrupted (the `orderpay sandbox` command); binds loopback unless told otherwise."""
    # The access log would print 3-D Secure URLs with their client secrets: orderpay's logging
    # (configured by the caller) redacts every line, uvicorn's own format would not.
    uvicorn.run(create_sandbox_app(config or SandboxConfig()), host=host, port=port, log_config=None)
