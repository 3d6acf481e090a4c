"""Refunds (partial, full, never more than captured), manual capture and cancellation."""

from __future__ import annotations

from typing import Any

import pytest
import stripe


def paid(client: stripe.StripeClient, amount: int = 5000, **extra: Any) -> stripe.PaymentIntent:
    params: dict[str, Any] = {"amount": amount, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
                              "payment_method_types": ["card"], **extra}  # fmt: skip
    return client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]


def test_partial_then_full_refund_then_over_refund(client: stripe.StripeClient) -> None:
    intent = paid(client)
    first = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1500, "reason": "requested_by_customer"})
    assert (first.amount, first.status, first.charge, first.payment_intent) == (1500, "succeeded", intent.latest_charge, intent.id)
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert (charge.amount_refunded, charge.refunded) == (1500, False)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 3501})
    assert too_much.value.param == "amount" and "greater than unrefunded amount" in str(too_much.value)
    rest = client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 3500
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (5000, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, first.id]  # type: ignore[union-attr]
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert again.value.code == "charge_already_refunded"
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": intent.id}).data] == [rest.id, first.id]
    types = [e.type for e in client.v1.events.list(params={"type": "charge.refunded"}).data]
    assert types == ["charge.refunded", "charge.refunded"]


def test_refund_needs_a_successful_payment(client: stripe.StripeClient) -> None:
    open_intent = client.v1.payment_intents.create(params={"amount": 900, "currency": "usd", "payment_method_types": ["card"]})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": open_intent.id})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.refunds.create(params={"charge": "ch_missing"})
    assert missing.value.http_status == 404


def test_manual_capture_partial_and_refund_limit(client: stripe.StripeClient) -> None:
    intent = paid(client, capture_method="manual")
    assert (intent.status, intent.amount_capturable, intent.amount_received) == ("requires_capture", 5000, 0)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": intent.id})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 6000})
    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 3000})
    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", 3000, 0)
    charge = client.v1.charges.retrieve(captured.latest_charge)  # type: ignore[arg-type]
    assert (charge.captured, charge.amount_captured) == (True, 3000)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 3001})
    assert client.v1.refunds.create(params={"payment_intent": intent.id}).amount == 3000


def test_cancel(client: stripe.StripeClient) -> None:
    open_intent = client.v1.payment_intents.create(params={"amount": 900, "currency": "usd", "payment_method_types": ["card"]})
    canceled = client.v1.payment_intents.cancel(open_intent.id, params={"cancellation_reason": "abandoned"})
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    assert canceled.canceled_at is not None
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.confirm(open_intent.id, params={"payment_method": "pm_card_visa"})
    assert info.value.code == "payment_intent_unexpected_state"
    held = paid(client, capture_method="manual")
    released = client.v1.payment_intents.cancel(held.id)
    assert released.status == "canceled"
    assert client.v1.charges.retrieve(held.latest_charge).refunded is True  # type: ignore[arg-type]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.cancel(paid(client).id)


def test_update_and_list_by_customer(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    intent = client.v1.payment_intents.create(params={"amount": 900, "currency": "usd", "customer": customer.id, "payment_method_types": ["card"]})
    other = client.v1.payment_intents.create(params={"amount": 900, "currency": "usd", "payment_method_types": ["card"]})
    updated = client.v1.payment_intents.update(intent.id, params={"amount": 1200, "description": "Order 42", "metadata": {"order": "42"}})
    assert (updated.amount, updated.description, updated.metadata["order"]) == (1200, "Order 42", "42")
    listed = client.v1.payment_intents.list(params={"customer": customer.id})
    assert [i.id for i in listed.data] == [intent.id]
    assert other.id in [i.id for i in client.v1.payment_intents.list().data]
