"""Declines as Stripe reports them. Most declining test cards are refused when they are attached to
a customer (adding the card): a clear 402 in the error envelope, nothing saved. 4000 0000 0000 0341
and `pm_card_chargeCustomerFail` attach and fail at the charge: the seeds' payment error, whose
`errCode` is Stripe's error `code` with the bank's `declineCode` beside it."""
from __future__ import annotations

import pytest

from tests.payments.helpers import VISA, Buyer, err, intents_of, new_card, ok
from tests.support import LiveServer

CHARGE_DECLINED = "4000000000000341"  # attaches, then every charge is declined (generic_decline)


@pytest.mark.parametrize("number, code, decline_code", [
    ("4000000000000002", "card_declined", "generic_decline"),
    ("4000000000009995", "card_declined", "insufficient_funds"),
    ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
    ("4000000000000069", "expired_card", "expired_card"),
])
def test_a_card_declined_at_attach_is_a_402_and_is_not_saved(
        server: LiveServer, alice: Buyer, number: str, code: str, decline_code: str) -> None:
    before = alice.cards()
    declined = err(alice.add_card(new_card(server, number)), 402)
    assert (declined["errCode"], declined["declineCode"]) == (code, decline_code)
    assert declined["message"].startswith("Stripe: ")
    assert alice.cards() == before, "a declined card is saved nowhere"


@pytest.mark.parametrize("card", [CHARGE_DECLINED, "pm_card_chargeCustomerFail"])
def test_a_charge_decline_names_stripes_code_and_the_decline_code(server: LiveServer, alice: Buyer, card: str) -> None:
    payment_method = card if card.startswith("pm_") else new_card(server, card)
    saved = alice.add_card(payment_method)
    assert saved.status_code == 200, saved.text
    order = alice.create_order()
    error = ok(alice.pay(order["id"], saved.json()["paymentMethodId"]))["paymentResult"]
    assert (error["result"], error["errCode"], error["declineCode"]) == ("ERR", "card_declined", "generic_decline")
    assert error["message"] == "Stripe error message: Your card was declined."
    assert alice.order(order["id"])["_paymentConfirmation"] != "paid"

    other = alice.save_card(VISA)  # another card pays at once
    assert ok(alice.pay(order["id"], other["paymentMethodId"]))["order"]["_paymentConfirmation"] == "paid"
    assert sorted(i["status"] for i in intents_of(server, order["id"])) == ["requires_payment_method", "succeeded"]
