"""What happens between Stripe acting and orderpay hearing of it: a webhook, a second click.

orderpay talks to a separate sandbox server through the proxy of `stripe_seam`, which holds
Stripe's answer to the confirm call while the test makes something else happen first — Stripe's
real event posted to orderpay's webhook route (signed, over HTTP), the buyer's second click —
and then passes the answer on. The sandbox delivers no webhooks of its own (no endpoint is
registered with it), so only the events the test posts arrive. Nothing of orderpay's code is patched.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from payment_core.sandbox.config import new_webhook_secret
from tests.payments.helpers import (
    VISA,
    Buyer,
    OrderApp,
    event_bytes,
    ok,
    order_app,
    payment_events,
    payment_server,
    post_webhook,
    succeeded_intents,
)
from tests.payments.stripe_seam import AnswerDroppingProxy, ExternalStripe, stripe_behind_a_proxy
from tests.support import LiveServer

WEBHOOK = "/ordermanagement-api/stripe-webhook"
WEBHOOK_SECRET = new_webhook_secret()


@pytest.fixture(scope="module")
def stripe_and_seam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ExternalStripe, AnswerDroppingProxy]]:
    with stripe_behind_a_proxy(tmp_path_factory.mktemp("interleavings-stripe") / "state.sqlite3", webhook_retry_delay=0.05) as both:
        yield both


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
           stripe_service: ExternalStripe, proxy: AnswerDroppingProxy) -> Iterator[LiveServer]:
    yield from payment_server(request, tmp_path_factory, backend, "store",
                              stripe_secret_key=stripe_service.config.secret_key,
                              stripe_publishable_key=stripe_service.config.publishable_key,
                              stripe_api_base=proxy.url, stripe_webhook_secrets=[WEBHOOK_SECRET])


@pytest.fixture(scope="module")
def app() -> OrderApp:
    return order_app("store")


def stripes_event(stripe_service: ExternalStripe, intent_id: str, event_type: str) -> bytes:
    """Stripe's own event about the intent, as a delivery body."""
    page = httpx.get(f"{stripe_service.url}/v1/events", params={"type": event_type, "limit": 100}, timeout=10,
                     headers={"Authorization": f"Bearer {stripe_service.config.secret_key}"}).raise_for_status().json()
    return event_bytes(next(event for event in page["data"] if event["data"]["object"]["id"] == intent_id))


def test_a_succeeded_webhook_that_overtakes_the_start_answer_is_applied_once(
        server: LiveServer, stripe_service: ExternalStripe, proxy: AnswerDroppingProxy, app: OrderApp,
        alice: Buyer) -> None:
    """Stripe's webhook may arrive before orderpay has its answer to the confirm call. The proxy makes
    that certain: Stripe's real `payment_intent.succeeded` is delivered while its answer is held."""
    card = alice.save_card(VISA)
    order = alice.create_order()
    delivered: list[httpx.Response] = []

    def webhook_first(answer: bytes) -> None:
        body = stripes_event(stripe_service, json.loads(answer)["id"], "payment_intent.succeeded")
        delivered.append(post_webhook(server, body, path=WEBHOOK, secret=WEBHOOK_SECRET))

    with proxy.hold_answers("POST", "/v1/payment_intents", webhook_first):
        body = ok(alice.pay(order["id"], card["paymentMethodId"]))

    assert [ok(response)["result"] for response in delivered] == ["processed"]
    assert body["order"]["_paymentConfirmation"] == "paid"
    assert body["paymentResult"]["success"] is True and body["paymentResult"]["statusLiteral"] == "success"
    events = payment_events(server, app, order["id"])
    assert [event["topic"] for event in events] == [app.topic("calledback")], "the payment was applied once"
    assert len(succeeded_intents(server, order["id"])) == 1


def test_a_second_click_after_stripes_created_webhook_still_charges_once(
        server: LiveServer, stripe_service: ExternalStripe, proxy: AnswerDroppingProxy, alice: Buyer) -> None:
    """Stripe sends `payment_intent.created` as soon as the intent exists, often before its answer to
    the confirm call is back. The buyer, seeing nothing yet, clicks Pay again with the same card. While
    Stripe's answer is held, its real `payment_intent.created` event is delivered, then the second click runs."""
    card = alice.save_card(VISA)
    order = alice.create_order()
    second_click: list[httpx.Response] = []

    def created_webhook_then_second_click(answer: bytes) -> None:
        body = stripes_event(stripe_service, json.loads(answer)["id"], "payment_intent.created")
        ok(post_webhook(server, body, path=WEBHOOK, secret=WEBHOOK_SECRET))
        with server.client("alice") as http:
            second_click.append(http.patch(f"{alice.app.start}/{order['id']}",
                                           json={"paymentUserParams": {"paymentMethodId": card["paymentMethodId"]}}))

    with proxy.hold_answers("POST", "/v1/payment_intents", created_webhook_then_second_click):
        first = ok(alice.pay(order["id"], card["paymentMethodId"]))

    assert first["order"]["_paymentConfirmation"] == "paid"
    [second] = second_click
    assert second.status_code in (200, 409), second.text
    assert len(succeeded_intents(server, order["id"])) == 1, "the buyer was charged twice for one order"
    assert alice.order(order["id"])["_paymentConfirmation"] == "paid"
