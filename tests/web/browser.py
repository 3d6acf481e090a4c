"""What a buyer does in the browser, as Playwright steps shared by the web tests."""
from __future__ import annotations

from typing import Any

from tests.support import LiveServer
from tests.web.support import new_unpaid_order

CARD_4242 = "4242424242424242"
CARD_3DS = "4000002760003184"
CARD_DECLINED = "4000000000000341"  # saves, then declines when charged (0002 is declined when saved)


def sign_in(page: Any, server: LiveServer, username: str = "alice") -> None:
    page.goto(server.base_url + "/")
    page.get_by_label("User").fill(username)
    page.get_by_label("Password").fill(f"{username}-pass")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Message").wait_for()


def ask(page: Any, text: str) -> Any:
    """Sends `text`; returns the answer bubble once its turn is done."""
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")
    answer = page.locator("li.message.assistant").last
    answer.and_(page.locator("[data-state=done]")).wait_for()
    return answer


def payment_card(scope: Any) -> Any:
    card = scope.locator("article.payment-card").last
    card.wait_for()
    return card


def open_checkout(card: Any) -> None:
    card.get_by_role("button", name="Pay", exact=False).first.click()
    card.locator("section.checkout").wait_for()


def checkout_for_new_order(page: Any, server: LiveServer, username: str) -> tuple[Any, str]:
    """`username` signs in, asks to pay a new unpaid order of theirs and opens its checkout: (card, order id)."""
    order = new_unpaid_order(server, username)
    sign_in(page, server, username)
    card = payment_card(ask(page, "Pay my latest unpaid order, please"))
    assert card.get_attribute("data-order-id") == order["id"]
    open_checkout(card)
    return card, order["id"]


def choose_new_card(card: Any) -> None:
    card.get_by_role("radio", name="A new card").check()


def enter_new_card(card: Any, number: str, holder: str = "Alice Anderson", *, save: bool = True,
                   expiry: str = "12 / 34", cvc: str = "123") -> None:
    """Chooses "A new card" and types it (Pay then saves it, if `save`, and charges it)."""
    choose_new_card(card)
    card.get_by_label("Card number").fill(number)
    card.get_by_label("Expiration date (MM / YY)").fill(expiry)
    card.get_by_label("Security code (CVC)").fill(cvc)
    card.get_by_label("Name on card").fill(holder)
    card.get_by_label("Save this card for next time").set_checked(save)


def choose_card(card: Any, last4: str) -> None:
    card.locator("label.card-choice", has_text=f"••{last4}").locator("input").check()


def saved_choices(card: Any) -> list[str]:
    """The saved cards the checkout lists, as shown ("Visa ••4242")."""
    return card.locator("li[data-payment-method-id] .card-name").all_inner_texts()


def pay_now(card: Any) -> None:
    card.locator("button.pay-now").click()


def wait_paid(card: Any, timeout: float = 20000) -> None:
    card.locator("xpath=self::*[@data-state='paid']").wait_for(timeout=timeout)


def type_card(card: Any, number: str, holder: str = "Alice Anderson") -> None:
    """Types a card into the pay page's card-only checkout (a pay link opened without a session)."""
    card.locator("section.typed-card").wait_for()
    card.get_by_label("Card number").fill(number)
    card.get_by_label("Expiration date (MM / YY)").fill("12 / 34")
    card.get_by_label("Security code (CVC)").fill("123")
    card.get_by_label("Name on card").fill(holder)
