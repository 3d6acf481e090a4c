"""The seeds' frontend payment flow inside the chat, in Chromium: 3-D Secure
completed and failed, a declined card then a retry, deleting a saved card, and
the card's state coming from the order when the conversation is reopened."""
from __future__ import annotations

from typing import Any

from tests.support import LiveServer
from tests.web.browser import (
    CARD_3DS, CARD_4242, CARD_DECLINED, checkout_for_new_order, enter_new_card, open_checkout, pay_now, payment_card, saved_choices, wait_paid,
)
from tests.web.support import read_order


def test_3d_secure_completed_brings_the_buyer_back_to_the_paid_conversation(page: Any, airbnb: LiveServer,
                                                                            shot: Any, readme_shot: Any) -> None:
    card, order_id = checkout_for_new_order(page, airbnb, "alice")
    enter_new_card(card, CARD_3DS)
    pay_now(card)
    page.get_by_role("button", name="Complete").wait_for()  # the bank's 3-D Secure page
    shot(page, "bank")
    readme_shot(page, "3d-secure")
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url("**/?conversationId=*")
    card = payment_card(page)  # the conversation, reopened, with the same card
    assert card.get_attribute("data-order-id") == order_id
    wait_paid(card)
    assert "payment_intent_client_secret" not in page.url  # read once, then out of the address bar
    assert read_order(airbnb, order_id)["_paymentConfirmation"] == "paid"
    shot(page, "paid")


def test_3d_secure_failed_then_paid_with_another_card(page: Any, airbnb: LiveServer, shot: Any) -> None:
    card, order_id = checkout_for_new_order(page, airbnb, "bob")
    enter_new_card(card, CARD_3DS, holder="Bob Brown")
    pay_now(card)
    page.get_by_role("button", name="Fail").click()
    page.wait_for_url("**/?conversationId=*")
    card = payment_card(page)
    card.get_by_text("Payment failed").wait_for()
    assert card.get_attribute("data-state") == "payable"
    assert read_order(airbnb, order_id)["_paymentConfirmation"] == "canceled"
    shot(page, "failed")

    open_checkout(card)
    enter_new_card(card, CARD_4242, holder="Bob Brown")
    pay_now(card)
    wait_paid(card)
    assert read_order(airbnb, order_id)["_paymentConfirmation"] == "paid"


def test_a_declined_card_shows_the_error_then_a_retry_pays(page: Any, airbnb: LiveServer, shot: Any) -> None:
    card, order_id = checkout_for_new_order(page, airbnb, "carol")
    enter_new_card(card, CARD_DECLINED, holder="Carol Clark")
    pay_now(card)
    card.get_by_text("Your card was declined.", exact=False).wait_for()
    assert "Stripe error message" not in card.inner_text()  # the seeds' API prefix is not for buyers
    assert card.get_attribute("data-state") == "payable"
    assert read_order(airbnb, order_id)["_paymentConfirmation"] == "canceled"
    shot(page, "declined")

    enter_new_card(card, CARD_4242, holder="Carol Clark")  # the checkout stays open for the retry
    pay_now(card)
    wait_paid(card)
    assert read_order(airbnb, order_id)["_paymentConfirmation"] == "paid"

    # Reopened later, the card is Paid because the order is, not because this page remembers it.
    page.reload()
    wait_paid(payment_card(page))
    page.get_by_role("button", name="New chat").click()
    page.locator("#conversation-list button.conversation-open").first.click()
    wait_paid(payment_card(page))


def test_delete_a_saved_card(page: Any, airbnb: LiveServer) -> None:
    with airbnb.client("alice") as alice:
        assert alice.post("/bookingmanagement-api/payment-methods/add", json={"paymentMethodId": "pm_card_mastercard"}).status_code in (200, 201)
    card, _ = checkout_for_new_order(page, airbnb, "alice")
    assert "Mastercard ••4444" in saved_choices(card)
    card.get_by_role("button", name="Delete card ending 4444").click()
    card.get_by_text("Mastercard ••4444 deleted.").wait_for()
    assert "Mastercard ••4444" not in saved_choices(card)
    with airbnb.client("alice") as alice:
        saved = alice.get("/bookingmanagement-api/payment-methods/list").json()
    assert all(method["cardInfo"]["last4"] != "4444" for method in saved)
