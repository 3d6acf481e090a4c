"""The seeds' Stripe demo page, in Chromium: a buyer signs in, saves a card with Stripe.js,
pays a reservation (3-D Secure too) and lands on the result page, which shows it paid."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import start_server
from tests.support import LiveServer

DEMO = "/bookingmanagement-api/stripe-demo/reservation"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # The page is the subject here; the flow's database behaviour is covered on both backends elsewhere.
    yield from start_server(request, tmp_path_factory, "sqlite", "airbnb", demo_data=True)


@pytest.fixture
def page(chromium: Any, server: LiveServer) -> Iterator[Any]:
    context = chromium.new_context()
    page = context.new_page()
    yield page
    context.close()


def type_card(page: Any, number: str) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiration date (MM / YY)").fill("12 / 34")
    page.get_by_label("Security code (CVC)").fill("123")


def sign_in_and_add_card(page: Any, server: LiveServer, number: str) -> None:
    page.goto(server.base_url + DEMO)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#cards li").first.wait_for()
    if not page.locator("details#add-card").evaluate("details => details.open"):
        page.get_by_text("Add a card", exact=True).click()
    type_card(page, number)
    page.get_by_label("Card holder").fill("Alice Anderson")
    page.get_by_role("button", name="Save card").click()
    page.get_by_text(f"**** **** **** {number[-4:]}").wait_for()
    page.get_by_label(f"**** **** **** {number[-4:]}").check()  # pay with the card just added


def new_reservation(server: LiveServer) -> str:
    body = {"listingId": "7f0c2a64-5d55-4f86-9d5e-0c3d1f6b2a10", "checkIn": "2027-06-01", "checkOut": "2027-06-04",
            "currency": "USD", "totalPrice": 321.5}
    with server.client("alice") as alice:
        return alice.post("/bookingmanagement-api/v1/reservations", json=body).json()["reservation"]["id"]


def reservation(server: LiveServer, order_id: str) -> dict[str, Any]:
    with server.client("alice") as alice:
        return alice.get(f"/bookingmanagement-api/v1/reservations/{order_id}").json()["reservation"]


def test_pay_a_reservation_with_a_new_card(page: Any, server: LiveServer) -> None:
    order_id = new_reservation(server)
    sign_in_and_add_card(page, server, "4242424242424242")
    page.locator(f"input[name=order][value='{order_id}']").check()
    page.get_by_role("button", name="Pay").click()
    page.get_by_text("Paid — fulfilment has started.").wait_for(timeout=15000)
    assert "payment_intent_client_secret=" in page.url
    order = reservation(server, order_id)
    assert order["_paymentConfirmation"] == "paid" and order["bookingStatus"] == "confirmed"


def test_pay_with_3d_secure(page: Any, server: LiveServer) -> None:
    order_id = new_reservation(server)
    sign_in_and_add_card(page, server, "4000002760003184")
    page.locator(f"input[name=order][value='{order_id}']").check()
    page.get_by_role("button", name="Pay").click()
    # With a return_url, Stripe.js takes the buyer to the bank's page, which sends them back to the result page.
    page.get_by_role("button", name="Complete").click()
    page.get_by_text("Paid — fulfilment has started.").wait_for(timeout=15000)
    assert "redirect_status=succeeded" in page.url
    assert reservation(server, order_id)["_paymentConfirmation"] == "paid"


def test_a_declined_card_shows_the_error_and_leaves_the_order_unpaid(page: Any, server: LiveServer) -> None:
    order_id = new_reservation(server)
    sign_in_and_add_card(page, server, "4000000000000341")  # saves, then declines at payment
    page.locator(f"input[name=order][value='{order_id}']").check()
    page.get_by_role("button", name="Pay").click()
    page.get_by_text("Stripe error message: Your card was declined.").wait_for()
    assert reservation(server, order_id)["_paymentConfirmation"] == "canceled"


def test_the_page_sends_a_content_security_policy(server: LiveServer) -> None:
    import httpx

    response = httpx.get(server.base_url + DEMO)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "sk_test" not in response.text
