"""3-D Secure through the redirect page (driven with httpx), and the sandbox mounted under a prefix."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.routing import Mount

from payment_core.sandbox import SandboxConfig, create_sandbox_app

from .conftest import SandboxServer, serve

RETURN_URL = "https://shop.example/orders/42/paid?step=done"


def three_ds_payment(client: stripe.StripeClient, payment_method: str = "pm_card_authenticationRequired", **extra: Any) -> stripe.PaymentIntent:
    params: dict[str, Any] = {"amount": 2500, "currency": "usd", "payment_method": payment_method, "confirm": True,
                              "return_url": RETURN_URL, **extra}  # fmt: skip
    return client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]


def press(page_url: str, button: str) -> httpx.Response:
    """Load the challenge page and submit it with the named button, as a browser would."""
    page = httpx.get(page_url)
    assert page.status_code == 200
    assert f'value="{button.lower()}">{button}</button>' in page.text
    action = page_url.split("?")[0]
    secret = re.search(r'name="client_secret" value="([^"]+)"', page.text)
    assert secret is not None
    return httpx.post(action, data={"client_secret": secret.group(1), "frame": "", "outcome": button.lower()})


@pytest.mark.parametrize("payment_method", ["pm_card_authenticationRequired", "pm_card_threeDSecure2Required"])
def test_redirect_complete_succeeds(client: stripe.StripeClient, payment_method: str) -> None:
    intent = three_ds_payment(client, payment_method)
    assert intent.status == "requires_action"
    assert intent.next_action is not None and intent.next_action.type == "redirect_to_url"
    redirect = intent.next_action.redirect_to_url
    assert redirect is not None and redirect.return_url == RETURN_URL
    response = press(redirect.url or "", "Complete")
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN_URL.split("?")[0]
    query = parse_qs(location.query)
    assert query == {
        "step": ["done"],
        "payment_intent": [intent.id],
        "payment_intent_client_secret": [intent.client_secret],
        "redirect_status": ["succeeded"],
    }
    done = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert done.status == "succeeded" and done.next_action is None
    assert done.latest_charge.payment_method_details.card.three_d_secure.result == "authenticated"  # type: ignore[union-attr]


def test_redirect_fail_returns_to_requires_payment_method(client: stripe.StripeClient) -> None:
    intent = three_ds_payment(client)
    response = press(intent.next_action.redirect_to_url.url, "Fail")  # type: ignore[union-attr]
    assert parse_qs(urlsplit(response.headers["location"]).query)["redirect_status"] == ["failed"]
    failed = client.v1.payment_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.code == "payment_intent_authentication_failure"
    assert failed.last_payment_error.type == "invalid_request_error"
    assert failed.latest_charge is None
    types = [e.type for e in client.v1.events.list().data]
    assert types[:2] == ["payment_intent.payment_failed", "payment_intent.requires_action"]


def test_authentication_then_decline(client: stripe.StripeClient) -> None:
    intent = three_ds_payment(client, "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds")
    response = press(intent.next_action.redirect_to_url.url, "Complete")  # type: ignore[union-attr]
    assert parse_qs(urlsplit(response.headers["location"]).query)["redirect_status"] == ["failed"]
    declined = client.v1.payment_intents.retrieve(intent.id)
    assert declined.status == "requires_payment_method"
    assert declined.last_payment_error is not None
    assert (declined.last_payment_error.code, declined.last_payment_error.decline_code) == ("card_declined", "insufficient_funds")
    charge = client.v1.charges.retrieve(declined.latest_charge)  # type: ignore[arg-type]
    assert charge.status == "failed" and charge.outcome.reason == "insufficient_funds"  # type: ignore[union-attr]


def test_use_stripe_sdk_without_return_url(client: stripe.StripeClient, sandbox: SandboxServer) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 2500, "currency": "usd", "payment_method": "pm_card_authenticationRequired", "confirm": True,
                "payment_method_types": ["card"]}
    )  # fmt: skip
    assert intent.status == "requires_action" and intent.next_action is not None
    assert intent.next_action.type == "use_stripe_sdk"
    sdk = intent.next_action.use_stripe_sdk
    assert sdk["type"] == "three_d_secure_redirect" and sdk["stripe_js"].startswith(sandbox.url + "/3d_secure/")  # type: ignore[index]
    # The framed page reports to Stripe.js instead of redirecting.
    page = httpx.get(sdk["stripe_js"])  # type: ignore[index]
    assert "Complete" in page.text and "Fail" in page.text
    done = httpx.post(sdk["stripe_js"].split("?")[0], data={"client_secret": intent.client_secret, "frame": "1", "outcome": "complete"})  # type: ignore[index]
    assert "postMessage" in done.text and "orderpay-sandbox-3ds-complete" in done.text
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_challenge_page_needs_the_client_secret(client: stripe.StripeClient, sandbox: SandboxServer) -> None:
    intent = three_ds_payment(client)
    assert httpx.get(f"{sandbox.url}/3d_secure/{intent.id}?client_secret=wrong").status_code == 404
    assert httpx.post(f"{sandbox.url}/3d_secure/{intent.id}", data={"client_secret": "wrong", "outcome": "complete"}).status_code == 404
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_action"


def test_publishable_key_confirm_and_retrieve_with_client_secret(client: stripe.StripeClient, sandbox: SandboxServer) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 990, "currency": "usd", "payment_method_types": ["card"], "metadata": {"secret": "x"}})
    browser = sandbox.client(sandbox.publishable_key)
    seen = browser.v1.payment_intents.retrieve(intent.id, params={"client_secret": intent.client_secret})
    assert seen.status == "requires_payment_method"
    assert "metadata" not in seen and "customer" not in seen, "publishable keys see Stripe's restricted view"
    with pytest.raises(stripe.InvalidRequestError):
        browser.v1.payment_intents.retrieve(intent.id, params={"client_secret": intent.id + "_secret_wrong"})
    with pytest.raises(stripe.InvalidRequestError):
        browser.v1.payment_intents.retrieve(intent.id)
    confirmed = browser.v1.payment_intents.confirm(
        intent.id, params={"client_secret": intent.client_secret, "payment_method": "pm_card_threeDSecure2Required", "use_stripe_sdk": True}  # type: ignore[typeddict-unknown-key]
    )
    assert confirmed.status == "requires_action" and confirmed.next_action.type == "use_stripe_sdk"  # type: ignore[union-attr]
    with pytest.raises(stripe.CardError) as info:
        browser.v1.payment_intents.confirm(
            intent.id, params={"client_secret": intent.client_secret, "payment_method": "pm_card_chargeDeclined", "use_stripe_sdk": True}  # type: ignore[typeddict-unknown-key]
        )
    assert "metadata" not in info.value.json_body["error"]["payment_intent"]  # type: ignore[index]


@asynccontextmanager
async def _host_lifespan(app: Starlette) -> AsyncIterator[None]:
    # Mounted apps get no lifespan of their own: the host runs the sandbox's background work.
    async with app.state.sandbox_app.state.sandbox.running():
        yield


@pytest.fixture
def mounted() -> Any:
    config = SandboxConfig(processing_delay=0.1)
    sandbox_app = create_sandbox_app(config)
    host = Starlette(routes=[Mount("/stripe-sandbox", app=sandbox_app)], lifespan=_host_lifespan)
    host.state.sandbox_app = sandbox_app
    server = serve(host, config, prefix="/stripe-sandbox")
    yield server
    server.stop()


def test_mounted_under_a_prefix(mounted: SandboxServer, receiver: Callable[..., Any]) -> None:
    client = mounted.client()
    intent = three_ds_payment(client)
    url = intent.next_action.redirect_to_url.url  # type: ignore[union-attr]
    assert url.startswith(mounted.url + "/3d_secure/"), url
    assert press(url, "Complete").status_code == 303
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    script = httpx.get(mounted.url + "/js/v3/")
    assert script.status_code == 200 and script.headers["content-type"].startswith("application/javascript")
    assert f'var API_BASE = "{mounted.url}";' in script.text
    hook = receiver()
    with mounted.http() as http:
        http.post("/_sandbox/webhook_endpoints", data={"url": hook.url, "enabled_events[0]": "payment_intent.succeeded"}).raise_for_status()
    # Background work runs because the host entered `running()`: processing payments settle, webhooks go out.
    processing = client.v1.payment_intents.create(
        params={"amount": 500, "currency": "usd", "payment_method": "pm_card_processing", "confirm": True,
                "payment_method_types": ["card"]}
    )  # fmt: skip
    assert processing.status == "processing"
    delivered = hook.wait_for(lambda got: len(got) == 1)
    assert delivered[0]["type"] == "payment_intent.succeeded"
    assert client.v1.payment_intents.retrieve(processing.id).status == "succeeded"
