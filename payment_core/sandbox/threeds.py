"""The 3-D Secure challenge page, standing in for the issuer's page Stripe redirects or frames.

Full-page flow (`redirect_to_url`): the buyer lands here, presses Complete or Fail, and is sent to the
`return_url` with `payment_intent`, `payment_intent_client_secret` and `redirect_status`, as Stripe does.
Framed flow (`use_stripe_sdk`, `frame=1`): the page runs inside Stripe.js's modal and reports back to it
with `postMessage` instead of redirecting.
"""

from __future__ import annotations

import hmac
import html
import json
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from . import payments
from .errors import StripeError
from .params import parse_form
from .runtime import Sandbox

MESSAGE_TYPE = "orderpay-sandbox-3ds-complete"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; padding: 24px; color: #1a1f36; background: #fff; }
main { max-width: 420px; margin: 0 auto; }
h1 { font-size: 20px; } p { line-height: 1.5; }
.buttons { display: flex; gap: 12px; margin-top: 24px; }
button { flex: 1; font-size: 16px; padding: 12px; border-radius: 6px; border: 1px solid #635bff; cursor: pointer; }
button[value=complete] { background: #635bff; color: #fff; }
button[value=fail] { background: #fff; color: #635bff; }
button:focus-visible { outline: 3px solid #1a1f36; outline-offset: 2px; }
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def _intent_for(sandbox: Sandbox, intent_id: str, client_secret: str | None) -> dict[str, Any] | None:
    try:
        intent = payments.get_intent(sandbox, intent_id)
    except StripeError:
        return None
    if not client_secret or not hmac.compare_digest(client_secret, intent["client_secret"]):
        return None
    return intent


def _not_found() -> HTMLResponse:
    return HTMLResponse(_page("Not found", "<h1>Unknown authentication request</h1>"), status_code=404)


ZERO_DECIMAL_CURRENCIES = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}


def _amount(intent: dict[str, Any]) -> str:
    currency = intent["currency"]
    value = str(intent["amount"]) if currency in ZERO_DECIMAL_CURRENCIES else f"{intent['amount'] / 100:.2f}"
    return f"{value} {currency.upper()}"


async def challenge(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    intent = _intent_for(sandbox, request.path_params["id"], request.query_params.get("client_secret"))
    if intent is None:
        return _not_found()
    if intent["status"] != "requires_action":
        return HTMLResponse(_page("Authentication", "<h1>Nothing to authenticate</h1><p>This payment needs no authentication now.</p>"))
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in (("client_secret", intent["client_secret"]), ("frame", request.query_params.get("frame", "")))
    )
    body = (
        "<h1>3D Secure test authentication</h1>"
        f"<p>The orderpay Stripe sandbox is asking you to authenticate a payment of <strong>{html.escape(_amount(intent))}</strong>. "
        "In live mode your bank would show its own challenge here.</p>"
        f'<form method="post">{hidden}<div class="buttons">'
        '<button type="submit" name="outcome" value="complete">Complete</button>'
        '<button type="submit" name="outcome" value="fail">Fail</button>'
        "</div></form>"
    )
    return HTMLResponse(_page("3D Secure authentication", body))


async def submit(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    form = parse_form((await request.body()).decode("utf-8", "replace"))
    intent = _intent_for(sandbox, request.path_params["id"], form.get("client_secret"))
    if intent is None:
        return _not_found()
    with sandbox.store.transaction():
        intent = payments.finish_authentication(sandbox, intent["id"], passed=form.get("outcome") == "complete")
        return_url = sandbox.store.get_private(intent["id"]).get("return_url")
    if form.get("frame"):
        message = json.dumps({"type": MESSAGE_TYPE, "payment_intent": intent["id"], "status": intent["status"]})
        script = f"<script>window.parent.postMessage({message}, '*');</script>"
        return HTMLResponse(_page("Authentication finished", "<h1>Authentication finished</h1>" + script))
    if not return_url:
        return HTMLResponse(_page("Authentication finished", f"<h1>Authentication finished</h1><p>Payment status: {intent['status']}</p>"))
    return RedirectResponse(_return_url(return_url, intent), status_code=303)


def _return_url(return_url: str, intent: dict[str, Any]) -> str:
    succeeded = intent["status"] in ("succeeded", "processing", "requires_capture")
    extra = urlencode(
        {
            "payment_intent": intent["id"],
            "payment_intent_client_secret": intent["client_secret"],
            "redirect_status": "succeeded" if succeeded else "failed",
        }
    )
    parts = urlsplit(return_url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))
