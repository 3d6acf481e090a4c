"""Stripe's documented test cards: the SDK's exception, codes and decline codes for each; checks at creation."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from payment_core.luhn import luhn_valid
from payment_core.sandbox import cards

from .conftest import SandboxServer

DECLINES = [
    # (pm_card id, raw number, code, decline_code, param)
    ("pm_card_chargeDeclined", "4000000000000002", "card_declined", "generic_decline", None),
    ("pm_card_chargeDeclinedInsufficientFunds", "4000000000009995", "card_declined", "insufficient_funds", None),
    ("pm_card_chargeDeclinedLostCard", "4000000000009987", "card_declined", "lost_card", None),
    ("pm_card_chargeDeclinedStolenCard", "4000000000009979", "card_declined", "stolen_card", None),
    ("pm_card_chargeDeclinedExpiredCard", "4000000000000069", "expired_card", "expired_card", "exp_month"),
    ("pm_card_chargeDeclinedIncorrectCvc", "4000000000000127", "incorrect_cvc", "incorrect_cvc", "cvc"),
    ("pm_card_chargeDeclinedProcessingError", "4000000000000119", "processing_error", "processing_error", None),
]


def card_payment(client: stripe.StripeClient, payment_method: str, **extra: Any) -> stripe.PaymentIntent:
    params: dict[str, Any] = {"amount": 1999, "currency": "usd", "payment_method": payment_method, "confirm": True,
                              "payment_method_types": ["card"], **extra}  # fmt: skip
    return client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]


def browser_card(sandbox: SandboxServer, number: str, exp_month: int = 12, exp_year: int | None = None, cvc: str | None = "123") -> stripe.PaymentMethod:
    """Create a card payment method as Stripe.js does: raw card data with the publishable key."""
    card: dict[str, Any] = {"number": number, "exp_month": exp_month, "exp_year": exp_year or datetime.date.today().year + 2}
    if cvc is not None:
        card["cvc"] = cvc
    return sandbox.client(sandbox.publishable_key).v1.payment_methods.create(params={"type": "card", "card": card})  # type: ignore[typeddict-item]


@pytest.mark.parametrize("test_id, number, code, decline_code, param", DECLINES)
def test_declines_raise_card_error_with_stripe_codes(
    client: stripe.StripeClient, sandbox: SandboxServer, test_id: str, number: str, code: str, decline_code: str, param: str | None
) -> None:
    for payment_method in (test_id, browser_card(sandbox, number).id):
        with pytest.raises(stripe.CardError) as info:
            card_payment(client, payment_method)
        error = info.value
        assert error.http_status == 402
        assert error.code == code
        assert error.param == param
        assert error.error is not None and error.error.decline_code == decline_code
        body = error.json_body["error"]  # type: ignore[index]
        assert body["type"] == "card_error"
        intent = body["payment_intent"]
        assert intent["status"] == "requires_payment_method"
        assert intent["last_payment_error"]["decline_code"] == decline_code
        assert intent["last_payment_error"]["charge"] == body["charge"]
        assert body["payment_method"]["id"].startswith("pm_")
        charge = client.v1.charges.retrieve(body["charge"])
        assert charge.status == "failed" and charge.failure_code == code and charge.outcome is not None
        assert charge.outcome.reason == decline_code
        # The intent can be retried with another card, as with Stripe.
        retried = client.v1.payment_intents.confirm(intent["id"], params={"payment_method": "pm_card_visa"})
        assert retried.status == "succeeded"


@pytest.mark.parametrize(
    "number, brand, cvc",
    [("4242424242424242", "visa", "123"), ("5555555555554444", "mastercard", "123"), ("378282246310005", "amex", "1234")],
)
def test_success_cards_with_brand(client: stripe.StripeClient, sandbox: SandboxServer, number: str, brand: str, cvc: str) -> None:
    method = browser_card(sandbox, number, cvc=cvc)
    assert method.card is not None
    assert (method.card.brand, method.card.last4, method.card.checks.cvc_check) == (brand, number[-4:], "unchecked")
    intent = card_payment(client, method.id)
    assert intent.status == "succeeded"
    for test_id in ("pm_card_visa", "pm_card_mastercard", "pm_card_amex"):
        assert card_payment(client, test_id).status == "succeeded"


@pytest.mark.parametrize(
    "card, code, param",
    [
        ({"number": "4242424242424241"}, "incorrect_number", "number"),
        ({"number": "424242424242"}, "incorrect_number", "number"),
        ({"number": "37828224631000"}, "incorrect_number", "number"),  # Amex is 15 digits
        ({"exp_month": 13}, "invalid_expiry_month", "exp_month"),
        ({"exp_year": 2001}, "invalid_expiry_year", "exp_year"),
        ({"cvc": "12"}, "invalid_cvc", "cvc"),
        ({"cvc": "1234"}, "invalid_cvc", "cvc"),  # 4 digits only for Amex
        ({"number": "378282246310005", "cvc": "123"}, "invalid_cvc", "cvc"),
        ({"number": "4111111111111111"}, "card_declined", None),  # a real (non-test) number in test mode
    ],
)
def test_card_checked_at_creation(sandbox: SandboxServer, card: dict[str, Any], code: str, param: str | None) -> None:
    fields = {"number": "4242424242424242", "exp_month": 12, "exp_year": datetime.date.today().year + 1, "cvc": "123", **card}
    with pytest.raises(stripe.CardError) as info:
        browser_card(sandbox, fields["number"], fields["exp_month"], fields["exp_year"], fields["cvc"])
    assert info.value.code == code
    assert info.value.param == param


def test_missing_card_fields(sandbox: SandboxServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox.client(sandbox.publishable_key).v1.payment_methods.create(params={"type": "card", "card": {"number": "4242424242424242"}})  # type: ignore[typeddict-item]
    assert info.value.code == "parameter_missing" and info.value.param == "card[exp_month]"


def test_off_session_authentication_required(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    method = client.v1.payment_methods.attach("pm_card_authenticationRequired", params={"customer": customer.id})
    with pytest.raises(stripe.CardError) as info:
        card_payment(client, method.id, customer=customer.id, off_session=True)
    assert info.value.code == "authentication_required"
    assert info.value.json_body["error"]["payment_intent"]["status"] == "requires_payment_method"  # type: ignore[index]


def test_payment_method_reuse_rules(client: stripe.StripeClient, sandbox: SandboxServer) -> None:
    method = browser_card(sandbox, "4242424242424242")
    card_payment(client, method.id)
    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        card_payment(client, method.id)
    customer = client.v1.customers.create()
    saved = client.v1.payment_methods.attach(browser_card(sandbox, "4242424242424242").id, params={"customer": customer.id})
    assert card_payment(client, saved.id, customer=customer.id).status == "succeeded"
    assert card_payment(client, saved.id, customer=customer.id).status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError):
        card_payment(client, saved.id)  # belongs to a customer the intent does not name
    listed = client.v1.customers.payment_methods.list(customer.id)
    assert [m.id for m in listed.data] == [saved.id]
    detached = client.v1.payment_methods.detach(saved.id)
    assert detached.customer is None
    assert client.v1.payment_methods.list(params={"customer": customer.id}).data == []


def test_test_payment_method_ids_materialise_new_objects(client: stripe.StripeClient) -> None:
    first = card_payment(client, "pm_card_visa")
    second = card_payment(client, "pm_card_visa")
    assert first.payment_method != second.payment_method
    method = client.v1.payment_methods.retrieve(first.payment_method)  # type: ignore[arg-type]
    assert method.card is not None and method.card.last4 == "4242"


def test_setup_future_usage_attaches_on_success(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    intent = card_payment(client, "pm_card_visa", customer=customer.id, setup_future_usage="off_session")
    method = client.v1.payment_methods.retrieve(intent.payment_method)  # type: ignore[arg-type]
    assert method.customer == customer.id


def test_automatic_payment_methods_need_a_return_url(client: stripe.StripeClient) -> None:
    params: dict[str, Any] = {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    with pytest.raises(stripe.InvalidRequestError, match="return_url"):
        client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]
    assert client.v1.payment_intents.create(params={**params, "return_url": "https://shop.example/r"}).status == "succeeded"  # type: ignore[arg-type]
    no_redirects = {**params, "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}
    assert client.v1.payment_intents.create(params=no_redirects).status == "succeeded"  # type: ignore[arg-type]


# Unit properties of the card rules


def _with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@given(st.from_regex(r"4[0-9]{14}", fullmatch=True))
def test_luhn_check_digit_is_unique(body: str) -> None:
    valid = [d for d in "0123456789" if luhn_valid(body + d)]
    assert len(valid) == 1
    assert cards.detect_brand(_with_check_digit(body)) == "visa"


def test_every_documented_test_card_passes_luhn_and_has_its_brand() -> None:
    for card in cards.TEST_CARDS.values():
        assert luhn_valid(card.number), card.number
        assert cards.detect_brand(card.number) == card.brand, card.number
    assert set(cards.TEST_PAYMENT_METHODS.values()) <= set(cards.TEST_CARDS)
    assert cards.detect_brand("2221000000000009") == "mastercard"
    assert cards.detect_brand("9999") == "unknown"


ATTACH_DECLINES = [(test_id, number, code, decline_code) for test_id, number, code, decline_code, _ in DECLINES]


@pytest.mark.parametrize("test_id, number, code, decline_code", ATTACH_DECLINES)
def test_declining_cards_are_declined_when_attached(
    client: stripe.StripeClient, sandbox: SandboxServer, test_id: str, number: str, code: str, decline_code: str
) -> None:
    """Stripe checks a card with its bank when it is attached to a customer: a card that declines
    fails there already, nothing is saved and no event is sent."""
    customer = client.v1.customers.create()
    for payment_method in (test_id, browser_card(sandbox, number).id):
        with pytest.raises(stripe.CardError) as info:
            client.v1.payment_methods.attach(payment_method, params={"customer": customer.id})
        assert info.value.http_status == 402
        assert (info.value.code, info.value.error.decline_code) == (code, decline_code)  # type: ignore[union-attr]
        assert info.value.json_body["error"]["type"] == "card_error"  # type: ignore[index]
    assert client.v1.customers.payment_methods.list(customer.id).data == []
    assert client.v1.events.list(params={"type": "payment_method.attached"}).data == []
    with pytest.raises(stripe.CardError):
        client.v1.customers.create(params={"payment_method": test_id})
    assert [c.id for c in client.v1.customers.list().data] == [customer.id], "no customer is made with a declining card"


def test_visa_charge_declined_test_id_declines_like_0002(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    with pytest.raises(stripe.CardError) as attach:
        client.v1.payment_methods.attach("pm_card_visa_chargeDeclined", params={"customer": customer.id})
    with pytest.raises(stripe.CardError) as charge:
        card_payment(client, "pm_card_visa_chargeDeclined")
    assert attach.value.code == charge.value.code == "card_declined"


@pytest.mark.parametrize("payment_method", ["pm_card_chargeCustomerFail", "4000000000000341"])
def test_0341_attaches_and_fails_when_charged(client: stripe.StripeClient, sandbox: SandboxServer, payment_method: str) -> None:
    """Stripe's 4000 0000 0000 0341: attaching it to a customer succeeds, charging the customer fails."""
    customer = client.v1.customers.create()
    method_id = browser_card(sandbox, payment_method).id if payment_method.isdigit() else payment_method
    saved = client.v1.payment_methods.attach(method_id, params={"customer": customer.id})
    assert saved.customer == customer.id and saved.card is not None and saved.card.last4 == "0341"
    assert [m.id for m in client.v1.customers.payment_methods.list(customer.id).data] == [saved.id]
    with pytest.raises(stripe.CardError) as info:
        card_payment(client, saved.id, customer=customer.id, off_session=True)
    assert (info.value.code, info.value.error.decline_code) == ("card_declined", "generic_decline")  # type: ignore[union-attr]
    failed = info.value.json_body["error"]["payment_intent"]  # type: ignore[index]
    assert failed["status"] == "requires_payment_method"
    assert client.v1.charges.retrieve(info.value.json_body["error"]["charge"]).status == "failed"  # type: ignore[index]
    # The saved card stays saved and declines again, as a card whose bank refuses every charge does.
    with pytest.raises(stripe.CardError):
        card_payment(client, saved.id, customer=customer.id)
