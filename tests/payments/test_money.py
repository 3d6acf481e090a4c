"""Amounts reach Stripe as the exact integer of minor units Stripe's currency rules require —
two decimals (USD), none (JPY), three with a final 0 (KWD), whole units sent with two (ISK) —
computed with Decimal arithmetic; what cannot be charged exactly is refused before Stripe."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from payment_core.errors import BadInput
from payment_core.money import (check_amount, exponent, json_amount, json_number, normalize_currency,
                                to_major_units, to_minor_units)
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


def test_amounts_are_written_in_major_units_as_json_numbers() -> None:
    """What refunds, disputes, paymentResult and the events show: one conversion for all of them."""
    assert json_amount(1050, "USD") == 10.5 and json_amount(1000, "USD") == 10
    assert json_amount(5000, "JPY") == 5000 and json_amount(12340, "KWD") == 12.34
    assert isinstance(json_amount(1000, "USD"), int)
    assert json_amount(None, "USD") is None and json_amount(1000, None) is None and json_amount(1000, "") is None


def test_decimal_arithmetic_never_drifts_like_floats() -> None:
    # 0.29 * 100 is 28.999999999999996 in binary floating point; every cent must survive.
    for cents in range(1, 100_000, 7):
        major = cents / 100
        assert to_minor_units(major, "USD") == cents, major


@pytest.mark.parametrize(("amount", "currency", "unit", "minor"), [
    (1.10 + 2.20, "USD", "major", 330),  # 3.3000000000000003
    (0.1 + 0.2, "EUR", "major", 30),  # 0.30000000000000004
    (19.99 * 3, "USD", "major", 5997),  # 59.97 off by float noise
    (4.35 * 100, "USD", "minor", 435),  # 434.99999999999994
    (1.1 * 1.1 * 1000, "JPY", "major", 1210),  # 1210.0000000000002
    (12.34 * 3, "KWD", "major", 37020),  # three decimals
])
def test_a_computed_amount_off_by_float_noise_is_its_minor_unit(amount: float, currency: str, unit: str, minor: int) -> None:
    assert isinstance(amount, float) and to_minor_units(amount, currency, unit) == minor  # type: ignore[arg-type]


@pytest.mark.parametrize(("amount", "currency"), [
    (3.3000001, "USD"), (3.305, "USD"), (Decimal("3.3000000000000003"), "USD"), ("3.3000000000000003", "USD"),
    (0.004, "USD"), (434.9999, "JPY"),
])
def test_more_precision_than_the_currency_beyond_float_noise_is_refused(amount: object, currency: str) -> None:
    with pytest.raises(BadInput, match="more decimals"):
        to_minor_units(amount, currency)


@pytest.mark.parametrize("amount", ["Infinity", "-Infinity", "inf", "NaN", "nan", "sNaN", "1e999999999", "-1e999999999",
                                    "1e-999999999", "1_000", " 12", "\uff11\uff12", "\u0661\u0662", "", "0x10", 1e308,
                                    -0.0, "-0", float("-inf")])
def test_non_finite_huge_tiny_and_odd_texts_are_refused_naming_the_field(amount: object) -> None:
    with pytest.raises(BadInput) as info:
        to_minor_units(amount, "USD", field="summary.total")
    assert info.value.field == "summary.total" and info.value.message.startswith("summary.total: ")


@pytest.mark.parametrize(("amount", "currency", "minor"), [
    ("59.99", "USD", 5999), ("1e2", "USD", 10000), (999_999.99, "USD", 99_999_999),
    (9_999_999_999.99, "IDR", 999_999_999_999),  # Stripe takes twelve digits in IDR
    (99_999_999, "JPY", 99_999_999), (99_999.99, "KWD", 99_999_990),
])
def test_amounts_up_to_stripes_maximum_are_taken(amount: object, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [(1_000_000, "USD"), (10_000_000_000, "IDR"), (100_000, "KWD")])
def test_more_than_stripes_maximum_is_refused(amount: object, currency: str) -> None:
    with pytest.raises(BadInput, match="more than Stripe accepts"):
        to_minor_units(amount, currency)


@pytest.mark.parametrize(("currency", "code"), [("usd", "USD"), ("Jpy", "JPY"), ("KWD", "KWD"), ("try", "TRY"), ("idr", "IDR")])
def test_stripe_currencies_are_taken_in_any_case(currency: str, code: str) -> None:
    assert normalize_currency(currency) == code


@pytest.mark.parametrize("currency", ["\uff35\uff33\uff24", "\uff55sd", "XXX", "XAU", "BTC", "EURO", "ABC", "usd ", "U\u0405D"])
def test_codes_stripe_does_not_charge_in_are_refused(currency: str) -> None:
    with pytest.raises(BadInput) as info:
        normalize_currency(currency, field="summary.currency")
    assert info.value.field == "summary.currency" and "ISO 4217" in info.value.message


def test_without_a_currency_only_what_no_currency_allows_is_refused() -> None:
    check_amount(12.34, None)
    check_amount(9_999_999_999.99, None)  # fine in IDR
    for bad in (12.345, 0, -1, "sNaN", 1e308, 10_000_000_000):
        with pytest.raises(BadInput):
            check_amount(bad, None, field="price")


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


@pytest.mark.parametrize(("total", "currency"), [
    (12.345, "KWD"), (100.5, "JPY"), (1500.5, "ISK"), (10.999, "USD"),  # finer than the currency
    (0, "USD"), (-5, "USD"), (1e308, "USD"), (1_000_000, "USD"), (100_000_000, "JPY"),  # nothing, negative, too much
])
def test_a_reservation_that_cannot_be_charged_exactly_is_refused_when_written(
        server: LiveServer, guest: Buyer, total: float, currency: str) -> None:
    before = guest.http.get(f"{guest.app.prefix}/v1/reservations").json()["paging"]["totalRowCount"]
    refused = err(guest.http.post(f"{guest.app.prefix}/v1/reservations",
                                  json={**guest.app.body, "currency": currency, "totalPrice": total}), 400)
    assert refused["message"].startswith("totalPrice: "), refused
    assert guest.http.get(f"{guest.app.prefix}/v1/reservations").json()["paging"]["totalRowCount"] == before


@pytest.mark.parametrize("currency", ["\uff35\uff33\uff24", "XXX", "BTC", "US", "usdollar"])
def test_a_currency_stripe_does_not_charge_in_is_refused_at_create_and_update(
        server: LiveServer, guest: Buyer, currency: str) -> None:
    refused = err(guest.http.post(f"{guest.app.prefix}/v1/reservations", json={**guest.app.body, "currency": currency}), 400)
    assert refused["message"].startswith("currency: "), refused
    reservation = guest.create_order(currency="eur")  # any case: Stripe's codes are case-insensitive
    refused = err(guest.http.patch(f"{guest.app.prefix}/v1/reservations/{reservation['id']}", json={"currency": currency}), 400)
    assert refused["message"].startswith("currency: ")
    assert guest.order(reservation["id"]) == reservation


def test_a_lower_case_currency_is_charged_as_its_code(server: LiveServer, guest: Buyer) -> None:
    card = guest.save_card(VISA)
    reservation = guest.create_order(currency="eur", totalPrice=19.99)
    result = ok(guest.pay(reservation["id"], card["paymentMethodId"]))["paymentResult"]
    assert (result["amount"], result["currency"]) == (19.99, "EUR")
    assert stripe_api(server).v1.payment_intents.retrieve(result["paymentId"]).amount == 1999


# -- an amount computed at pay time (seed 002: `this.reservation.rentPrice + this.reservation.taxAmount`) --

RENTALS = """
codename: rentals
services:
  - name: booking
    dataObjects:
      - name: reservation
        fields:
          guestId: id
          currency: {type: string, required: true}
          rentPrice: double
          taxAmount: double
          pricing: {type: object, default: {}, description: "A quoted total, when the app has one."}
          status: {type: enum, values: [new, pending, paid, failed], default: new}
        stripeOrder:
          objectIsAnOrderObject: true
          configuration:
            orderName: rental
            orderId: this.reservation.id
            amount: this.reservation.pricing.total || this.reservation.rentPrice + this.reservation.taxAmount
            currency: this.reservation.currency
            description: '"Rental"'
            orderStatusProperty: status
            orderStatusUpdateDateProperty: updatedAt
            orderOwnerIdProperty: guestId
            mapPaymentResultToOrderStatus:
              paymentResultStarted: '"pending"'
              paymentResultCanceled: '"failed"'
              paymentResultFailed: '"failed"'
              paymentResultSuccess: '"paid"'
"""


@pytest.fixture(scope="module")
def rentals_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   backend: str) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("rentals") / "rentals.yaml"
    path.write_text(RENTALS)
    yield from payment_server(request, tmp_path_factory, backend, str(path))


@pytest.fixture
def renter(rentals_server: LiveServer) -> Iterator[Buyer]:
    app = OrderApp(app="rentals", prefix="/booking-api", name="reservation", plural="reservations", codename="rentals",
                   service="booking", status_field="status", order_name="rental", body={"currency": "USD"},
                   amount=0, currency="USD", mapped={})
    buyer = Buyer(rentals_server, "bob", app)
    yield buyer
    buyer.close()


@pytest.mark.parametrize(("rent", "tax", "currency", "charged", "shown"), [
    (1.10, 2.20, "USD", 330, 3.3),  # 3.3000000000000003 in floats
    (40.1, 8.02, "EUR", 4812, 48.12),  # 48.120000000000005
    (0.7, 0.1, "USD", 80, 0.8),  # 0.7999999999999999
    (5000, 400, "JPY", 5400, 5400),
])
def test_the_seeds_computed_amount_is_charged_to_the_minor_unit(rentals_server: LiveServer, renter: Buyer, rent: float,
                                                               tax: float, currency: str, charged: int, shown: float) -> None:
    card = renter.save_card(VISA)
    rental = renter.create_order(currency=currency, rentPrice=rent, taxAmount=tax)
    body = ok(renter.pay(rental["id"], card["paymentMethodId"]))
    assert body["paymentResult"]["success"] is True and body["reservation"]["_paymentConfirmation"] == "paid"
    assert (body["paymentResult"]["amount"], body["paymentResult"]["currency"]) == (shown, currency)
    intent = stripe_api(rentals_server).v1.payment_intents.retrieve(body["paymentResult"]["paymentId"])
    assert (intent.amount, intent.amount_received) == (charged, charged)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"pricing": {"total": "Infinity"}}, "finite"),
    ({"pricing": {"total": "sNaN"}}, "finite"),
    ({"pricing": {"total": "1e999999999"}}, "more than Stripe accepts"),
    ({"pricing": {"total": "NaN"}}, "finite"),
    ({"rentPrice": 1e308, "taxAmount": 1e308}, "finite"),  # inf in floats
    ({"rentPrice": 1e308, "taxAmount": 0}, "more than Stripe accepts"),
    ({"rentPrice": -50, "taxAmount": 5}, "more than 0"),
    ({"rentPrice": 0, "taxAmount": 0}, "more than 0"),
    ({"rentPrice": 10.001, "taxAmount": 2}, "more decimals"),
    ({"pricing": None, "rentPrice": 10, "taxAmount": 1}, "cannot be computed"),  # `null.total` in JavaScript
])
def test_an_amount_that_cannot_be_charged_is_a_400_at_pay_and_nothing_is_charged(
        rentals_server: LiveServer, renter: Buyer, changes: dict[str, Any], problem: str) -> None:
    card = renter.save_card(VISA)
    rental = renter.create_order(**changes)  # computed at pay time: the create cannot know it yet
    refused = err(renter.pay(rental["id"], card["paymentMethodId"]), 400)
    field = "amount (pricing, rentPrice, taxAmount)"  # the fields the spec's amount is computed from
    assert refused["message"].startswith(f"{field}: ") and problem in refused["message"], refused
    assert renter.order(rental["id"]) == rental
    assert intents_of(rentals_server, rental["id"]) == []
    err(renter.http.get(f"/booking-api/v1/reservationpaymentbyorderid/{rental['id']}"), 404)


# -- a free-form amount field (ebaycclone's `summary.total`) is checked when written ------------------


@pytest.fixture(scope="module")
def ebay_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                backend: str) -> Iterator[LiveServer]:
    yield from payment_server(request, tmp_path_factory, backend, "ebaycclone")


@pytest.mark.parametrize(("summary", "field"), [
    ({"total": "Infinity", "currency": "USD"}, "summary.total"),
    ({"total": "sNaN", "currency": "USD"}, "summary.total"),
    ({"total": "1e999999999", "currency": "USD"}, "summary.total"),
    ({"total": -5, "currency": "USD"}, "summary.total"),
    ({"total": 0, "currency": "USD"}, "summary.total"),
    ({"total": 1e308, "currency": "USD"}, "summary.total"),
    ({"total": 10, "currency": "\uff35\uff33\uff24"}, "summary.currency"),
    ({"total": 10, "currency": "XXX"}, "summary.currency"),
    ({"total": 10, "currency": "BTC"}, "summary.currency"),
])
def test_a_free_form_amount_that_cannot_be_charged_is_refused_at_create_and_update(
        ebay_server: LiveServer, summary: dict[str, Any], field: str) -> None:
    route = "/ordermanagement-api/v1/ordermanagementorders"
    with ebay_server.client("alice") as alice:
        before = alice.get(route).json()["paging"]["totalRowCount"]
        refused = err(alice.post(route, json={"orderNumber": "EB-X", "summary": summary}), 400)
        assert refused["message"].startswith(f"{field}: "), refused
        assert alice.get(route).json()["paging"]["totalRowCount"] == before
        order = ok(alice.post(route, json={"orderNumber": "EB-Y", "summary": {"total": 3.3000000000000003, "currency": "usd"}}),
                   201)["orderManagementOrder"]
        refused = err(alice.patch(f"{route}/{order['id']}", json={"summary": summary}), 400)
        assert refused["message"].startswith(f"{field}: ")
        assert alice.get(f"{route}/{order['id']}").json()["orderManagementOrder"] == order
