"""Issue 14's checkout, in Chromium, as a buyer uses it: one choice and one charge (the card
typed is the card charged, a new card saved or not, never saved twice, a declined card not left
chosen), field errors on their fields, focus where the buyer's next step is, every screen size,
and the axe-core audit of the chat, the checkout, the pay page and the result page.

What was charged is read back from Stripe (the offline sandbox, through the official SDK)."""
from __future__ import annotations

from typing import Any

import httpx

from tests.payments.helpers import intents_of, stripe_api, succeeded_intents
from tests.support import LiveServer
from tests.web.a11y import assert_accessible
from tests.web.browser import (
    CARD_3DS, CARD_4242, CARD_DECLINED, ask, checkout_for_new_order, choose_new_card, enter_new_card, open_checkout, pay_now, payment_card,
    saved_choices, sign_in, type_card, wait_paid,
)
from tests.web.support import new_unpaid_order, order_object, pay_url, read_order

MASTERCARD = "5555555555554444"


def cards_api(server: LiveServer) -> str:
    service, _ = order_object(server)
    return f"{service.route_prefix}/payment-methods"


def saved_cards(server: LiveServer, username: str) -> list[dict[str, Any]]:
    with server.client(username) as client:
        answer = client.get(f"{cards_api(server)}/list")
        assert answer.status_code == 200, answer.text
        return answer.json()


def start_with_saved_card(server: LiveServer, username: str, test_pm: str = "pm_card_visa") -> dict[str, Any]:
    """The buyer's saved cards are exactly one: `test_pm` (Stripe's test id), saved over REST."""
    with server.client(username) as client:
        for card in saved_cards(server, username):
            assert client.delete(f"{cards_api(server)}/delete/{card['paymentMethodId']}").status_code in (200, 204)
        answer = client.post(f"{cards_api(server)}/add", json={"paymentMethodId": test_pm})
        assert answer.status_code in (200, 201), answer.text
        return answer.json()


def forget_cards(server: LiveServer, username: str) -> None:
    with server.client(username) as client:
        for card in saved_cards(server, username):
            assert client.delete(f"{cards_api(server)}/delete/{card['paymentMethodId']}").status_code in (200, 204)


def charged_card(server: LiveServer, order_id: str) -> dict[str, Any]:
    """The card Stripe charged for the order: exactly one succeeded intent, and its payment method."""
    paid = succeeded_intents(server, order_id)
    assert len(paid) == 1, paid
    return stripe_api(server).v1.payment_methods.retrieve(paid[0]["payment_method"]).to_dict()


def checked_choice(card: Any) -> str:
    return card.locator(".card-list input[type=radio]:checked").evaluate("radio => radio.closest('label').innerText")


def active(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => { const a = document.activeElement;
        return { tag: a.tagName, field: a.dataset.field || null, cls: a.className, text: a.innerText || '' }; }""")


# -- one choice, one charge -------------------------------------------------------------------


def test_the_typed_card_is_charged_not_the_saved_one(page: Any, airbnb: LiveServer, shot: Any) -> None:
    start_with_saved_card(airbnb, "alice")
    card, order_id = checkout_for_new_order(page, airbnb, "alice")
    assert checked_choice(card).startswith("Visa ••4242")  # the saved card is the default choice
    pay = card.locator("button.pay-now")
    assert "with Visa ••4242" in pay.inner_text() and pay.inner_text().startswith("Pay ")

    enter_new_card(card, MASTERCARD)  # typed under "A new card", saved on Pay (the default)
    assert "with a new Mastercard" in pay.inner_text()
    shot(page, "typed")
    pay_now(card)
    wait_paid(card)
    assert "Paid with Mastercard ••4444" in card.inner_text()  # the paid state names the card that paid
    shot(page, "paid")

    charged = charged_card(airbnb, order_id)
    assert charged["card"]["last4"] == "4444"
    assert all(stripe_api(airbnb).v1.payment_methods.retrieve(intent["payment_method"]).card.last4 == "4444"
               for intent in intents_of(airbnb, order_id))  # the saved Visa was never even tried
    assert read_order(airbnb, order_id)["_paymentConfirmation"] == "paid"
    assert sorted(c["cardInfo"]["last4"] for c in saved_cards(airbnb, "alice")) == ["4242", "4444"]


def test_a_new_card_without_saving_is_charged_and_not_kept(page: Any, airbnb: LiveServer) -> None:
    forget_cards(airbnb, "bob")
    card, order_id = checkout_for_new_order(page, airbnb, "bob")
    assert checked_choice(card) == "A new card"  # nothing saved: typing a card is the only choice
    enter_new_card(card, MASTERCARD, holder="Bob Brown", save=False)
    pay_now(card)
    wait_paid(card)
    assert "Paid with Mastercard ••4444" in card.inner_text()
    charged = charged_card(airbnb, order_id)
    assert charged["card"]["last4"] == "4444" and charged["customer"] is None  # charged once, never attached
    assert saved_cards(airbnb, "bob") == []


def test_the_same_card_is_never_listed_twice(page: Any, airbnb: LiveServer) -> None:
    start_with_saved_card(airbnb, "carol")
    card, order_id = checkout_for_new_order(page, airbnb, "carol")
    enter_new_card(card, CARD_4242, holder="Carol Chen")  # the Visa she saved before, typed again
    pay_now(card)
    wait_paid(card)
    assert [c["cardInfo"]["last4"] for c in saved_cards(airbnb, "carol")] == ["4242"]
    assert charged_card(airbnb, order_id)["card"]["last4"] == "4242"
    order = new_unpaid_order(airbnb, "carol")
    card = payment_card(ask(page, "Pay my latest unpaid order, please"))
    assert card.get_attribute("data-order-id") == order["id"]
    open_checkout(card)
    assert saved_choices(card) == ["Visa ••4242"]


def test_the_same_card_added_twice_over_rest_is_saved_once(airbnb: LiveServer) -> None:
    forget_cards(airbnb, "admin")
    browser = stripe_api(airbnb, airbnb.runtime.stripe.publishable_key)
    typed = [browser.v1.payment_methods.create(params={
        "type": "card", "card": {"number": MASTERCARD, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}).id
        for _ in range(2)]
    with airbnb.client("admin") as admin:
        first = admin.post(f"{cards_api(airbnb)}/add", json={"paymentMethodId": typed[0]}).json()
        second = admin.post(f"{cards_api(airbnb)}/add", json={"paymentMethodId": typed[1]}).json()
    assert second["paymentMethodId"] == first["paymentMethodId"] == typed[0]  # the card saved before
    assert len(saved_cards(airbnb, "admin")) == 1
    assert stripe_api(airbnb).v1.payment_methods.retrieve(typed[1]).customer is None  # the copy was not attached


def test_a_declined_card_is_not_left_chosen_nor_saved(page: Any, airbnb: LiveServer, shot: Any) -> None:
    start_with_saved_card(airbnb, "bob")
    card, order_id = checkout_for_new_order(page, airbnb, "bob")
    enter_new_card(card, CARD_DECLINED, holder="Bob Brown")  # save on: saved, then declined at the charge
    pay_now(card)
    card.get_by_text("Your card was declined.", exact=False).wait_for()
    assert "Stripe error message" not in card.inner_text()
    assert checked_choice(card) == "A new card"
    assert saved_choices(card) == ["Visa ••4242"]
    assert [c["cardInfo"]["last4"] for c in saved_cards(airbnb, "bob")] == ["4242"]
    shot(page, "declined")

    # A saved card declined at the charge stays saved but is not left chosen either.
    start_with_saved_card(airbnb, "bob", "pm_card_chargeCustomerFail")  # 0341: Stripe declines 0002 at attach
    card = payment_card(ask(page, "Pay my latest unpaid order, please"))
    open_checkout(card)
    assert checked_choice(card).startswith("Visa ••0341")
    pay_now(card)
    card.get_by_text("Your card was declined.", exact=False).wait_for()
    assert checked_choice(card) == "A new card"
    assert read_order(airbnb, order_id)["_paymentConfirmation"] == "canceled"

    enter_new_card(card, CARD_4242, holder="Bob Brown")
    pay_now(card)
    wait_paid(card)
    assert charged_card(airbnb, order_id)["card"]["last4"] == "4242"


def test_card_errors_are_shown_on_their_fields_all_at_once(page: Any, airbnb: LiveServer) -> None:
    forget_cards(airbnb, "carol")
    card, order_id = checkout_for_new_order(page, airbnb, "carol")
    choose_new_card(card)
    card.get_by_label("Card number").fill("4242 4242 42")
    pay_now(card)
    number, expiry, cvc = (card.get_by_label(name) for name in (
        "Card number", "Expiration date (MM / YY)", "Security code (CVC)"))
    for field, words in ((number, "card number"), (expiry, "expir"), (cvc, "security code")):
        assert field.get_attribute("aria-invalid") == "true"
        described = field.get_attribute("aria-describedby")
        assert described and words in page.locator(f"#{described}").inner_text().lower()
    assert active(page)["field"] == "number"  # the first problem has the focus
    assert read_order(airbnb, order_id)["_paymentConfirmation"] == "pending"  # nothing was sent
    number.fill(MASTERCARD)
    assert number.get_attribute("aria-invalid") != "true"  # fixed: its error goes at once


# -- focus ----------------------------------------------------------------------------------------


def test_focus_follows_the_buyer(page: Any, airbnb: LiveServer) -> None:
    forget_cards(airbnb, "alice")
    card, _ = checkout_for_new_order(page, airbnb, "alice")
    page.wait_for_function("() => document.activeElement && document.activeElement.dataset.field === 'number'")
    # No saved card: the card number is the first thing to do.
    enter_new_card(card, CARD_4242)
    pay_now(card)
    wait_paid(card)
    # Saved and paid: the focus is on the result, which says so.
    page.wait_for_function("() => document.activeElement && document.activeElement.classList.contains('payment-state')")
    assert "Paid with Visa ••4242" in active(page)["text"]
    assert [c["cardInfo"]["last4"] for c in saved_cards(airbnb, "alice")] == ["4242"]

    # With a saved card, opening the checkout focuses Pay; paying moves the focus to the result.
    new_unpaid_order(airbnb, "alice")
    card = payment_card(ask(page, "Pay my latest unpaid order, please"))
    open_checkout(card)
    page.wait_for_function("() => document.activeElement && document.activeElement.classList.contains('pay-now')")
    assert "with Visa ••4242" in active(page)["text"]
    page.keyboard.press("Enter")
    wait_paid(card)
    page.wait_for_function("() => document.activeElement && document.activeElement.classList.contains('payment-state')")


# -- every screen --------------------------------------------------------------------------------


def inside(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and \
        box["x"] + box["width"] <= size["width"] + 0.5 and box["y"] + box["height"] <= size["height"] + 0.5


def test_phone_screens_keep_the_composer_and_pay_in_view(chromium: Any, airbnb: LiveServer, shot: Any,
                                                        readme_shot: Any) -> None:
    for width, height in ((390, 844), (320, 640)):
        context = chromium.new_context(viewport={"width": width, "height": height}, is_mobile=True, has_touch=True)
        context.set_default_timeout(15000)
        page = context.new_page()
        try:
            forget_cards(airbnb, "carol")
            new_unpaid_order(airbnb, "carol")
            sign_in(page, airbnb, "carol")
            composer, send = page.get_by_label("Message"), page.get_by_role("button", name="Send")
            assert inside(page, composer) and inside(page, send), (width, composer.bounding_box(), send.bounding_box())
            card = payment_card(ask(page, "Pay my latest unpaid order, please"))
            assert inside(page, composer) and inside(page, send)  # a long answer scrolls; the composer stays
            open_checkout(card)
            pay = card.locator("button.pay-now")
            pay.scroll_into_view_if_needed()
            assert inside(page, pay), (width, pay.bounding_box())
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing sideways
            clipped = page.evaluate("""() => [...document.querySelectorAll('.payment-card *')]
                .filter((n) => n.clientWidth > 2 && n.scrollWidth > n.clientWidth + 1 && getComputedStyle(n).overflowX === 'hidden')
                .map((n) => n.className)""")
            assert not clipped, clipped
            shot(page, f"{width}x{height}")
            if width == 390:
                readme_shot(page, "phone-checkout")
        finally:
            context.close()


# -- the audit ----------------------------------------------------------------------------------


def test_axe_finds_nothing_serious_on_chat_checkout_pay_and_result_pages(page: Any, context: Any,
                                                                        airbnb: LiveServer) -> None:
    forget_cards(airbnb, "admin")
    card, _ = checkout_for_new_order(page, airbnb, "admin")
    assert_accessible(page, "the chat with an open checkout")
    choose_new_card(card)
    pay_now(card)  # empty fields: the errors are on the page too
    card.locator(".field-error").first.wait_for()
    assert_accessible(page, "the checkout showing field errors")

    order = new_unpaid_order(airbnb, "admin")
    page = context.new_page()  # a tab of its own: no session, as a buyer coming from another MCP client
    page.goto(pay_url(airbnb, "admin", order["id"]))
    card = payment_card(page)
    card.locator("section.checkout").wait_for()
    # A typed card is the only way to pay here: the card number has the focus.
    page.wait_for_function("() => document.activeElement && document.activeElement.dataset.field === 'number'")
    assert_accessible(page, "the pay page")
    type_card(card, CARD_3DS, holder="Ada Admin")  # a pay link without a session: a typed card only
    pay_now(card)
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url("**/pay/result?*")
    wait_paid(payment_card(page))
    assert_accessible(page, "the result page")


def test_a_favicon_on_every_page(airbnb: LiveServer) -> None:
    icon = httpx.get(airbnb.base_url + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in icon.content
    assert 'rel="icon"' in httpx.get(airbnb.base_url + "/").text


def test_the_demo_page_lays_radios_out_beside_their_text(page: Any, airbnb: LiveServer) -> None:
    service, obj = order_object(airbnb)
    page.goto(f"{airbnb.base_url}{service.route_prefix}/stripe-demo/{obj.name}")
    page.get_by_role("button", name="Sign in").click()  # the seeds' demo page: alice is filled in
    radio = page.locator("#orders input[type=radio]").first
    radio.wait_for()
    box, label = radio.bounding_box(), page.locator("#orders label").first.bounding_box()
    assert box["width"] < 30, box  # a radio, not a full-width block input
    assert box["x"] + box["width"] < label["x"] + label["width"] / 2  # its text beside it, not below
    assert label["height"] < 3 * box["height"] + 20, label  # one line (or a wrapped one), not stacked


def test_a_card_removed_at_stripe_is_listed_but_cannot_be_chosen(page: Any, airbnb: LiveServer) -> None:
    """Carol's saved Visa was removed in Stripe's dashboard and she saved it again: the old entry stays
    listed (so she can delete it) but cannot be picked, and Pay charges the card that can pay."""
    old = start_with_saved_card(airbnb, "carol")
    stripe_api(airbnb).v1.payment_methods.detach(old["paymentMethodId"])  # the dashboard, with the secret key
    browser = stripe_api(airbnb, airbnb.runtime.stripe.publishable_key)
    typed = browser.v1.payment_methods.create(params={
        "type": "card", "card": {"number": CARD_4242, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}).id
    with airbnb.client("carol") as carol:
        assert carol.post(f"{cards_api(airbnb)}/add", json={"paymentMethodId": typed}).status_code in (200, 201)
    assert {c["paymentMethodId"]: c["cardInfo"].get("usable", True) for c in saved_cards(airbnb, "carol")} == {
        old["paymentMethodId"]: False, typed: True}

    card, order_id = checkout_for_new_order(page, airbnb, "carol")
    old_radio = card.locator(f"input[type=radio][value='{old['paymentMethodId']}']")
    assert old_radio.is_disabled() and not old_radio.is_checked()
    assert "can no longer pay" in card.locator(f"li[data-payment-method-id='{old['paymentMethodId']}']").inner_text()
    assert card.locator(".card-list input[type=radio]:checked").get_attribute("value") == typed
    pay_now(card)
    wait_paid(card)
    assert charged_card(airbnb, order_id)["id"] == typed
