"""orderpay configured for an external Stripe (ORDERPAY_STRIPE_SECRET_KEY / ORDERPAY_STRIPE_API_BASE),
here a standalone sandbox server that the test stops and starts again: an outage is a clear
502 that leaves the order as it was, and once Stripe is back the buyer's retry pays exactly once."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from payment_core.sandbox import SandboxConfig
from tests.payments.helpers import (
    MASTERCARD,
    VISA,
    Buyer,
    OrderApp,
    err,
    event_bytes,
    eventually,
    fresh_event,
    intents_of,
    new_card,
    ok,
    order_app,
    payment_server,
    post_webhook,
    sign,
)
from tests.payments.stripe_seam import ExternalStripe
from tests.support import LiveServer, free_port


@pytest.fixture(scope="module")
def stripe_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExternalStripe]:
    port = free_port()
    state: Path = tmp_path_factory.mktemp("external-stripe") / "state.sqlite3"
    service = ExternalStripe(SandboxConfig(state_path=state, processing_delay=0.2, webhook_retry_delay=0.05), port)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
           stripe_service: ExternalStripe) -> Iterator[LiveServer]:
    # No webhook signing secret is configured: this deployment polls (refresh) instead.
    yield from payment_server(request, tmp_path_factory, backend, "store",
                              stripe_secret_key=stripe_service.config.secret_key,
                              stripe_publishable_key=stripe_service.config.publishable_key,
                              stripe_api_base=stripe_service.url, stripe_timeout_seconds=2)


@pytest.fixture(scope="module")
def app() -> OrderApp:
    return order_app("store")


def test_the_server_talks_to_the_configured_stripe(server: LiveServer, stripe_service: ExternalStripe) -> None:
    assert server.sandbox is None and not server.runtime.stripe.embedded_sandbox and server.runtime.stripe.api_base == stripe_service.url
    config = ok(server.client().get("/payment-config"))
    assert config["publishableKey"] == stripe_service.config.publishable_key and config["sandbox"] is False


def test_a_stripe_outage_is_a_clear_502_and_the_retry_after_it_pays_once(
        server: LiveServer, stripe_service: ExternalStripe, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    another_card = new_card(server, VISA)

    stripe_service.stop()
    try:
        failed = err(alice.pay(order["id"], card["paymentMethodId"]), 502)
        assert "payment provider" in failed["message"] and "unavailable" in failed["message"]
        assert failed["errCode"] == "payment_gateway_unavailable"
        assert alice.order(order["id"]) == order, "the order is left exactly as it was"
        err(alice.add_card(another_card), 502)
        assert [c["paymentMethodId"] for c in alice.cards()] == [card["paymentMethodId"]]
        err(alice.delete_card(card["paymentMethodId"]), 502)
        assert [c["paymentMethodId"] for c in alice.cards()] == [card["paymentMethodId"]], "nothing removed half way"
    finally:
        stripe_service.start()

    paid = ok(alice.pay(order["id"], card["paymentMethodId"]))
    assert paid["order"]["_paymentConfirmation"] == "paid"
    assert [intent["status"] for intent in intents_of(server, order["id"])] == ["succeeded"]


def test_after_an_outage_the_buyer_can_pay_with_another_card(
        server: LiveServer, stripe_service: ExternalStripe, alice: Buyer) -> None:
    """The outage answer says "try again"; the buyer does so with their other card once Stripe is back.
    Nothing reached Stripe the first time, so nothing may keep that order from being paid."""
    first = alice.save_card(VISA)
    second = alice.save_card(MASTERCARD)
    order = alice.create_order()
    stripe_service.stop()
    try:
        err(alice.pay(order["id"], first["paymentMethodId"]), 502)
    finally:
        stripe_service.start()

    # "in a moment": a few seconds at most (the Stripe timeout here is 2 s), retried as a buyer would.
    answer = eventually(lambda: (r := alice.pay(order["id"], second["paymentMethodId"])).status_code != 409 and r,
                        timeout=12, interval=0.5, message="the order stays locked by the attempt Stripe never received")
    paid = ok(answer)
    assert paid["order"]["_paymentConfirmation"] == "paid"
    assert [(i["status"], i["payment_method"]) for i in intents_of(server, order["id"])] == [
        ("succeeded", second["paymentMethodId"])]


def test_without_a_signing_secret_every_webhook_is_refused(server: LiveServer, alice: Buyer, app: OrderApp) -> None:
    order = alice.create_order()
    event = fresh_event({"id": "pi_x", "object": "payment_intent", "status": "succeeded",
                         "metadata": {"orderpayApp": app.codename, "orderpayObject": app.name, "orderId": order["id"]}},
                        "payment_intent.succeeded")
    body = event_bytes(event)
    for path in (f"{app.prefix}/stripe-webhook", f"{app.callback}/{order['id']}"):
        err(post_webhook(server, body, path=path, signature=sign(body, "whsec_guessed")), 400)
    assert alice.order(order["id"]) == order
