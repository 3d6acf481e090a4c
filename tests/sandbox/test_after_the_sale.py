"""After the sale, as Stripe's test mode plays it: the dispute card (4000 0000 0000 0259) is charged
back after it succeeds; refunds made in the dashboard reach the integration only by webhook; a refund
is idempotent and can be partial; disputes close by the merchant's acceptance or the bank's decision."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import stripe

from payment_core.sandbox import SandboxConfig, WebhookEndpointConfig

from .conftest import Receiver, SandboxServer
from .test_cards import browser_card
from .test_fidelity import assert_same_shape, fixtures  # noqa: F401 (fixture)

FAST = {"webhook_retry_delay": 0.05, "processing_delay": 0.2, "dispute_delay": 0.2}


@pytest.fixture
def hooked(start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]) -> tuple[SandboxServer, Receiver, str]:
    """A sandbox delivering every event to a receiver, and the receiver's signing secret."""
    hook = receiver()
    endpoint = WebhookEndpointConfig(hook.url)
    return start_sandbox(SandboxConfig(webhook_endpoints=[endpoint], **FAST)), hook, endpoint.secret


def paid(client: stripe.StripeClient, payment_method: str, amount: int = 5000, **extra: Any) -> stripe.PaymentIntent:
    params: dict[str, Any] = {"amount": amount, "currency": "usd", "payment_method": payment_method, "confirm": True,
                              "payment_method_types": ["card"], "metadata": {"order_id": "A-1"}, **extra}  # fmt: skip
    return client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]


def delivered(hook: Receiver, secret: str, event_type: str, count: int = 1) -> list[dict[str, Any]]:
    """The events of `event_type` delivered so far, their signatures verified as a receiver verifies them."""
    deliveries = hook.wait_for(lambda got: [d["type"] for d in got].count(event_type) >= count)
    events = []
    for delivery in deliveries:
        if delivery["type"] == event_type:
            stripe.Webhook.construct_event(delivery["body"], delivery["signature"], secret)
            events.append(json.loads(delivery["body"]))
    return events


def test_the_dispute_card_succeeds_then_is_disputed(hooked: tuple[SandboxServer, Receiver, str], fixtures: dict[str, Any]) -> None:  # noqa: F811
    sandbox, hook, secret = hooked
    client = sandbox.client()
    method = browser_card(sandbox, "4000000000000259")
    intent = paid(client, method.id)
    assert intent.status == "succeeded", "the charge itself goes through"
    (created,) = delivered(hook, secret, "charge.dispute.created")
    dispute = created["data"]["object"]
    assert (dispute["object"], dispute["charge"], dispute["payment_intent"]) == ("dispute", intent.latest_charge, intent.id)
    assert (dispute["amount"], dispute["currency"], dispute["reason"], dispute["status"]) == (5000, "usd", "fraudulent", "needs_response")
    assert dispute["is_charge_refundable"] is False
    with sandbox.http() as http:
        stored = http.get(f"/v1/disputes/{dispute['id']}").json()
    assert_same_shape("dispute", stored, fixtures["dispute"])
    assert isinstance(client.v1.disputes.retrieve(dispute["id"]), stripe.Dispute)
    assert [d.id for d in client.v1.disputes.list(params={"charge": intent.latest_charge}).data] == [dispute["id"]]  # type: ignore[typeddict-unknown-key]
    assert client.v1.charges.retrieve(intent.latest_charge).disputed is True  # type: ignore[arg-type]
    assert delivered(hook, secret, "charge.dispute.funds_withdrawn")
    # With the pm_card_ test id too, and the dispute opens only once.
    assert paid(client, "pm_card_createDispute").status == "succeeded"
    delivered(hook, secret, "charge.dispute.created", count=2)


def test_a_refund_is_refused_while_the_dispute_is_open_and_the_bank_decides(hooked: tuple[SandboxServer, Receiver, str]) -> None:
    sandbox, hook, secret = hooked
    client = sandbox.client()
    intent = paid(client, "pm_card_createDispute")
    (created,) = delivered(hook, secret, "charge.dispute.created")
    dispute_id = created["data"]["object"]["id"]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert refused.value.code == "charge_disputed"
    with sandbox.http(sandbox.publishable_key) as http:
        assert http.post(f"/_sandbox/disputes/{dispute_id}/close", data={"status": "won"}).status_code == 401
    with sandbox.http() as http:
        won = http.post(f"/_sandbox/disputes/{dispute_id}/close", data={"status": "won"})
        again = http.post(f"/_sandbox/disputes/{dispute_id}/close", data={"status": "lost"})
    assert won.status_code == 200 and won.json()["status"] == "won"
    assert again.status_code == 400
    (closed,) = delivered(hook, secret, "charge.dispute.closed")
    assert closed["data"]["object"]["status"] == "won" and closed["data"]["previous_attributes"]["status"] == "needs_response"
    assert delivered(hook, secret, "charge.dispute.funds_reinstated")
    assert client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000}).status == "succeeded"


def test_the_merchant_accepts_a_dispute(hooked: tuple[SandboxServer, Receiver, str]) -> None:
    sandbox, hook, secret = hooked
    client = sandbox.client()
    paid(client, "pm_card_createDispute")
    (created,) = delivered(hook, secret, "charge.dispute.created")
    lost = client.v1.disputes.close(created["data"]["object"]["id"])
    assert lost.status == "lost"
    (closed,) = delivered(hook, secret, "charge.dispute.closed")
    assert closed["data"]["object"]["status"] == "lost"


def test_a_dashboard_refund_reaches_the_integration_by_webhook(hooked: tuple[SandboxServer, Receiver, str], fixtures: dict[str, Any]) -> None:  # noqa: F811
    sandbox, hook, secret = hooked
    client = sandbox.client()
    intent = paid(client, "pm_card_visa")
    with sandbox.http(sandbox.publishable_key) as http:
        assert http.post("/_sandbox/refunds", data={"payment_intent": intent.id}).status_code == 401
    with sandbox.http() as http:
        response = http.post("/_sandbox/refunds", data={"payment_intent": intent.id, "amount": "1200", "reason": "requested_by_customer"})
    assert response.status_code == 200
    refund = response.json()
    assert (refund["object"], refund["amount"], refund["payment_intent"], refund["status"]) == ("refund", 1200, intent.id, "succeeded")
    assert_same_shape("refund", refund, fixtures["refund"])
    (created,) = delivered(hook, secret, "refund.created")
    (refunded,) = delivered(hook, secret, "charge.refunded")
    assert created["data"]["object"]["id"] == refund["id"]
    charge = refunded["data"]["object"]
    assert (charge["id"], charge["amount_refunded"], charge["refunded"]) == (intent.latest_charge, 1200, False)
    assert charge["refunds"]["data"][0]["id"] == refund["id"]
    assert_same_shape("charge", charge, fixtures["charge"])
    assert created["request"]["id"] is None, "made out of band: no API request of the integration"
    assert client.v1.charges.retrieve(intent.latest_charge).amount_refunded == 1200  # type: ignore[arg-type]


def test_api_refunds_are_partial_and_idempotent(client: stripe.StripeClient) -> None:
    intent = paid(client, "pm_card_visa")
    first = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 700}, options={"idempotency_key": "refund-1"})
    replay = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 700}, options={"idempotency_key": "refund-1"})
    assert replay.id == first.id and replay.last_response is not None
    assert replay.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 800}, options={"idempotency_key": "refund-1"})
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": intent.id}).data] == [first.id]
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert (charge.amount_refunded, charge.refunded) == (700, False)
    assert json.loads(json.dumps(first.to_dict()))["amount"] == 700
