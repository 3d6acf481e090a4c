"""Amounts reach Stripe as the exact integer of minor units Stripe's currency rules require —
two decimals (USD), none (JPY), three with a final 0 (KWD), whole units sent with two (ISK) —
computed with Decimal arithmetic; what cannot be charged exactly is refused before Stripe."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from payment_core.errors import BadInput
from payment_core.payments.money import exponent, json_number, normalize_currency, to_major_units, to_minor_units
from tests.payments.helpers import VISA, Buyer, OrderApp, err, intents_of, ok, order_app, payment_server, stripe_api
from tests.support import LiveServer


@pytest.mark.parametrize(("amount", "currency", "minor"), [
    (10, "USD", 1000), (10.99, "USD", 1099), (0.29, "USD", 29), (19.99, "usd", 1999), ("0.10", "USD", 10),
    (Decimal("1234.50"), "EUR", 123450), (99_999.99, "USD", 9_999_999),
    (5000, "JPY", 5000), (52000.0, "JPY", 52000), (1, "KRW", 1),
    (12.34, "KWD", 12340), (0.05, "KWD", 50), (Decimal("7.250"), "BHD", 7250),
    (1500, "ISK", 150000), (1.0, "ISK", 100),
])
def test_major_units_become_stripes_minor_units(amount: object, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [
    (10.999, "USD"), (0.001, "USD"),  # finer than a cent
    (100.5, "JPY"),  # yen have no decimals
    (12.345, "KWD"), (0.001, "KWD"),  # Stripe requires KWD's last digit to be 0
    (1500.5, "ISK"), (0.5, "ISK"),  # ISK is charged in whole krónur
    (0, "USD"), (-5, "USD"), (-0.01, "EUR"),  # nothing or negative
    (1_000_000, "USD"), (100_000_000, "JPY"),  # more than Stripe takes in one payment
    (float("nan"), "USD"), (float("inf"), "USD"), (True, "USD"), (None, "USD"), ("ten", "USD"), ([10], "USD"),
])
def test_amounts_that_cannot_be_charged_exactly_are_refused(amount: object, currency: str) -> None:
    with pytest.raises(BadInput) as info:
        to_minor_units(amount, currency)
    assert info.value.field == "amount" and info.value.message.startswith("amount: ")


@pytest.mark.parametrize("currency", ["", "US", "USDX", "12$", None, 840, "u$d"])
def test_currency_must_be_a_three_letter_code(currency: object) -> None:
    with pytest.raises(BadInput):
        normalize_currency(currency)
    with pytest.raises(BadInput):
        to_minor_units(10, currency)  # type: ignore[arg-type]


def test_amounts_kept_in_minor_units_are_taken_as_they_are() -> None:
    assert to_minor_units(2500, "usd", "minor") == 2500
    assert to_minor_units(52000, "JPY", "minor") == 52000
    with pytest.raises(BadInput):
        to_minor_units(2500.5, "USD", "minor")
    with pytest.raises(BadInput):
        to_minor_units(12345, "KWD", "minor")


def test_minor_units_read_back_as_major_units() -> None:
    assert exponent("usd") == 2 and exponent("JPY") == 0 and exponent("KWD") == 3 and exponent("ISK") == 2
    assert to_major_units(1099, "USD") == Decimal("10.99")
    assert to_major_units(52000, "JPY") == Decimal(52000)
    assert to_major_units(12340, "KWD") == Decimal("12.34")
    assert to_major_units(150000, "ISK") == Decimal(1500)
    assert json_number(to_major_units(1099, "USD")) == 10.99
    assert json_number(to_major_units(2500, "USD")) == 25 and isinstance(json_number(to_major_units(2500, "USD")), int)
    assert json_number(to_major_units(52000, "JPY")) == 52000


def test_decimal_arithmetic_never_drifts_like_floats() -> None:
    # 0.29 * 100 is 28.999999999999996 in binary floating point; every cent must survive.
    for cents in range(1, 100_000, 7):
        major = cents / 100
        assert to_minor_units(major, "USD") == cents, major


# -- real payments in several currencies (airbnb's reservations carry their own currency) --------


@pytest.fixture(scope="module")
def airbnb() -> OrderApp:
    return order_app("airbnb")


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    yield from payment_server(request, tmp_path_factory, backend, "airbnb")


@pytest.fixture
def guest(server: LiveServer, airbnb: OrderApp) -> Iterator[Buyer]:
    buyer = Buyer(server, "carol", airbnb)
    yield buyer
    buyer.close()


@pytest.mark.parametrize(("total", "currency", "stripe_amount", "shown"), [
    (52000, "JPY", 52000, 52000),
    (12.34, "KWD", 12340, 12.34),
    (1500, "ISK", 150000, 1500),
    (420.5, "USD", 42050, 420.5),
])
def test_a_reservation_is_charged_in_its_currency(server: LiveServer, guest: Buyer, total: float, currency: str,
                                                   stripe_amount: int, shown: float) -> None:
    card = guest.save_card(VISA)
    reservation = guest.create_order(currency=currency, totalPrice=total)
    body = ok(guest.pay(reservation["id"], card["paymentMethodId"]))
    result = body["paymentResult"]
    assert result["success"] is True and body["reservation"]["_paymentConfirmation"] == "paid"
    assert (result["amount"], result["currency"]) == (shown, currency)
    intent = stripe_api(server).v1.payment_intents.retrieve(result["paymentId"])
    assert (intent.amount, intent.currency, intent.amount_received) == (stripe_amount, currency.lower(), stripe_amount)
    assert guest.payment_record(reservation["id"])["amount"] == stripe_amount


@pytest.mark.parametrize(("total", "currency"), [(12.345, "KWD"), (100.5, "JPY"), (1500.5, "ISK"), (10.999, "USD")])
def test_a_reservation_that_cannot_be_charged_exactly_is_refused_before_stripe(
        server: LiveServer, guest: Buyer, total: float, currency: str) -> None:
    card = guest.save_card(VISA)
    reservation = guest.create_order(currency=currency, totalPrice=total)
    refused = err(guest.pay(reservation["id"], card["paymentMethodId"]), 400)
    assert refused["message"].startswith("amount: ")
    assert guest.order(reservation["id"]) == reservation
    assert intents_of(server, reservation["id"]) == []
    err(guest.http.get(f"{guest.app.prefix}/v1/reservationpaymentbyorderid/{reservation['id']}"), 404)
