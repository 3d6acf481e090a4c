"""Issue 7 end to end, in Chromium, for every bundled app: sign in, ask the
assistant to pay the latest unpaid order, the payment card appears inside the
answer, add a card with Stripe.js, pay, and the card and the order say Paid."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tests.support import LiveServer
from tests.web.browser import CARD_4242, add_card, ask, open_checkout, pay_now, payment_card, sign_in, wait_paid
from tests.web.support import mapped_status, read_order

UPDATE_SHOTS = "ORDERPAY_UPDATE_SCREENSHOTS"
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "chat-paid.png"


def test_pay_the_latest_unpaid_order_from_the_chat(page: Any, app_server: LiveServer, shot: Any) -> None:
    sign_in(page, app_server)
    answer = ask(page, "Please pay my latest unpaid order")
    card = payment_card(answer)  # inside the assistant's answer, in the tool call's place
    order_id = card.get_attribute("data-order-id")
    before = read_order(app_server, order_id)
    assert before["_paymentConfirmation"] != "paid"
    assert card.get_attribute("data-state") == "payable"
    shot(page, "card")

    open_checkout(card)
    add_card(card, CARD_4242)
    shot(page, "checkout")
    pay_now(card)
    wait_paid(card)
    assert "Paid" in card.inner_text()
    shot(page, "paid")

    after = read_order(app_server, order_id)
    assert after["_paymentConfirmation"] == "paid"
    status_property = app_server.runtime.app.spec.order_objects()[0][1].order.orderStatusProperty
    assert after[status_property] == mapped_status(app_server, before)
    # The README's screenshot: made when missing, remade on request (not on every run: it is committed).
    if app_server.runtime.app.codename == "airbnb" and (os.environ.get(UPDATE_SHOTS) or not README_SHOT.exists()):
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot(page, "readme"), README_SHOT)
