"""Exactly once, for exactly what the buyer saw (issue 12).

orderpay talks to a separate sandbox server through `AnswerDroppingProxy`, the HTTP hop
where faults are injected: a request reaches Stripe, Stripe acts, and its answer is lost.
No webhook signing secret is configured, so no webhook ever arrives — a polling deployment,
where only refresh and the reconciler can learn what Stripe did. Nothing of orderpay's code
is patched.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.payments.helpers import (
    MASTERCARD,
    THREE_DS,
    VISA,
    Buyer,
    OrderApp,
    complete_challenge,
    eventually,
    err,
    intents_of,
    ok,
    on_server,
    order_app,
    payment_events,
    payment_server,
    stripe_api,
    succeeded_intents,
)
from tests.payments.stripe_seam import AnswerDroppingProxy, ExternalStripe, stripe_behind_a_proxy
from tests.support import LiveServer

VISA_DEBIT = "4000056655665556"
STRIPE_TIMEOUT = 1.0  # an attempt can be in flight for at most 2 × 1 s + 2 s: the reconciler waits 4 s


@pytest.fixture(scope="module")
def stripe_and_seam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ExternalStripe, AnswerDroppingProxy]]:
    with stripe_behind_a_proxy(tmp_path_factory.mktemp("exactly-once-stripe") / "state.sqlite3", processing_delay=0.2, webhook_retry_delay=0.05) as both:
        yield both


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
           stripe_service: ExternalStripe, proxy: AnswerDroppingProxy) -> Iterator[LiveServer]:
    yield from payment_server(request, tmp_path_factory, backend, "store",
                              stripe_secret_key=stripe_service.config.secret_key,
                              stripe_publishable_key=stripe_service.config.publishable_key,
                              stripe_api_base=proxy.url, stripe_timeout_seconds=STRIPE_TIMEOUT,
                              reconcile_after_seconds=1, reconcile_interval_seconds=0.2)


@pytest.fixture(scope="module")
def app() -> OrderApp:
    return order_app("store")


def quote_of(server: LiveServer, buyer: Buyer, order_id: str) -> dict[str, Any]:
    """The quote initiatePayment puts in the payment card's payload (`__frontendAction.quote`)."""
    summary = on_server(server, lambda: server.runtime.payments.checkout_summary(
        server.session(buyer.username), buyer.app.name, order_id))
    return summary.quote


def pay_with_quote(buyer: Buyer, order_id: str, payment_method_id: str, quote: dict[str, Any]) -> Any:
    return buyer.http.patch(f"{buyer.app.start}/{order_id}", json={"paymentUserParams": {
        "paymentMethodId": payment_method_id, "return_url": "https://shop.example/done", "quote": quote}})


def change_amount(buyer: Buyer, order_id: str, total: int) -> Any:
    return buyer.http.patch(f"{buyer.app.prefix}/v1/{buyer.app.plural}/{order_id}", json={"totalAmount": total})


def charged(server: LiveServer, order_id: str) -> list[tuple[int, str]]:
    return [(intent["amount"], intent["currency"]) for intent in succeeded_intents(server, order_id)]


# -- 1. a payment is bound to what the buyer saw ------------------------------------------------


def test_the_amount_cannot_change_during_3d_secure(server: LiveServer, alice: Buyer) -> None:
    card = alice.save_card(THREE_DS)
    order = alice.create_order(totalAmount=2500)
    started = ok(alice.pay(order["id"], card["paymentMethodId"]))
    assert started["paymentResult"]["paymentStatus"] == "requires_action"

    refused = err(change_amount(alice, order["id"], 250000), 409)
    assert "totalAmount" in refused["message"] and "in progress" in refused["message"]
    assert alice.order(order["id"])["totalAmount"] == 2500, "nothing changed"
    ok(alice.http.patch(f"{alice.app.prefix}/v1/{alice.app.plural}/{order['id']}",
                        json={"deliveryAddress": "2 Side St"}))  # fields the payment does not read stay editable

    complete_challenge(server, started["paymentResult"])
    paid = ok(alice.refresh(order["id"]))
    assert paid["order"]["_paymentConfirmation"] == "paid" and paid["order"]["totalAmount"] == 2500
    assert charged(server, order["id"]) == [(2500, "usd")]


def test_a_paid_order_keeps_its_amount_and_cannot_be_deleted_by_its_buyer(
        server: LiveServer, alice: Buyer, admin: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order(totalAmount=2500)
    assert ok(alice.pay(order["id"], card["paymentMethodId"]))["order"]["_paymentConfirmation"] == "paid"

    refused = err(change_amount(alice, order["id"], 250000), 409)
    assert "paid" in refused["message"]
    err(alice.http.delete(f"{alice.app.prefix}/v1/{alice.app.plural}/{order['id']}"), 409)
    record = alice.payment_record(order["id"])
    err(alice.http.delete(f"{alice.app.records}/{record['id']}"), 409)
    err(admin.http.delete(f"{admin.app.records}/{record['id']}"), 409)  # the record of money taken stays

    after = alice.order(order["id"])
    assert (after["totalAmount"], after["_paymentConfirmation"], after["isActive"]) == (2500, "paid", True)
    assert alice.payment_record(order["id"])["statusLiteral"] == "success"
    # superAdmin may remove a paid order from view (soft delete; support work); its payment record stays.
    ok(admin.http.delete(f"{admin.app.prefix}/v1/{admin.app.plural}/{order['id']}"))
    assert admin.payment_record(order["id"])["paymentId"] == record["paymentId"]


def test_a_stale_quote_is_refused_with_the_current_amount_and_charges_nothing(server: LiveServer, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order(totalAmount=1000)
    shown = quote_of(server, alice, order["id"])
    assert (shown["amount"], shown["currency"]) == (10, "USD") and shown["version"]

    ok(change_amount(alice, order["id"], 90000))  # between the card and Pay
    stale = err(pay_with_quote(alice, order["id"], card["paymentMethodId"], shown), 409)
    assert stale["errCode"] == "stale_quote" and "900.00 USD" in stale["message"]
    assert (stale["currentQuote"]["amount"], stale["currentQuote"]["currency"]) == (900, "USD")
    assert stale["currentQuote"]["version"] != shown["version"]
    assert intents_of(server, order["id"]) == [] and alice.order(order["id"])["_paymentConfirmation"] == "pending"

    paid = ok(pay_with_quote(alice, order["id"], card["paymentMethodId"], stale["currentQuote"]))
    assert paid["order"]["_paymentConfirmation"] == "paid"
    assert charged(server, order["id"]) == [(90000, "usd")]


def test_an_amount_change_racing_the_pay_click_never_charges_other_than_the_order_shows(
        server: LiveServer, alice: Buyer) -> None:
    """The buyer's other tab changes the amount at the very moment Pay is clicked: either the change
    wins (the quote is stale: 409, nothing charged) or the payment does (the change is a 409) — never
    a charge of one amount on an order that shows another."""
    card = alice.save_card(VISA)
    for _ in range(4):
        order = alice.create_order(totalAmount=1000)
        shown = quote_of(server, alice, order["id"])
        barrier = threading.Barrier(2)
        answers: dict[str, Any] = {}

        def change() -> None:
            with server.client("alice") as http:
                barrier.wait()
                answers["change"] = http.patch(f"{alice.app.prefix}/v1/{alice.app.plural}/{order['id']}",
                                               json={"totalAmount": 5000})

        def pay() -> None:
            with server.client("alice") as http:
                barrier.wait()
                answers["pay"] = http.patch(f"{alice.app.start}/{order['id']}", json={"paymentUserParams": {
                    "paymentMethodId": card["paymentMethodId"], "quote": shown}})

        threads = [threading.Thread(target=change), threading.Thread(target=pay)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = alice.order(order["id"])
        outcome = (answers["change"].status_code, answers["pay"].status_code)
        if outcome == (409, 200):
            assert after["_paymentConfirmation"] == "paid" and charged(server, order["id"]) == [(1000, "usd")]
        else:
            assert outcome == (200, 409), [a.text for a in answers.values()]
            assert answers["pay"].json()["errCode"] == "stale_quote"
            assert after["totalAmount"] == 5000 and intents_of(server, order["id"]) == []
        assert after["totalAmount"] == 1000 or after["_paymentConfirmation"] != "paid"


def test_a_quote_that_is_not_a_quote_is_a_400(server: LiveServer, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    for quote in ({"amount": "NaN", "currency": "USD", "version": "q1"}, {"amount": 25}, "25 USD",
                  {"amount": 25, "currency": "USD", "version": "q1", "extra": 1}):
        err(pay_with_quote(alice, order["id"], card["paymentMethodId"], quote), 400)  # type: ignore[arg-type]
    assert intents_of(server, order["id"]) == []


# -- 3. recovery without a click ----------------------------------------------------------------


def test_a_lost_answer_is_recovered_by_refresh_with_no_webhook(
        server: LiveServer, proxy: AnswerDroppingProxy, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    with proxy.drop_answers("POST", "/v1/payment_intents", times=2) as dropped:
        err(alice.pay(order["id"], card["paymentMethodId"]), 502)
    assert len(dropped) >= 2 and [i["status"] for i in intents_of(server, order["id"])] == ["succeeded"]
    assert alice.order(order["id"])["_paymentConfirmation"] == "pending", "orderpay never heard Stripe's answer"

    refreshed = ok(alice.refresh(order["id"]))
    assert refreshed["order"]["_paymentConfirmation"] == "paid"
    assert refreshed["paymentResult"]["paymentId"] == succeeded_intents(server, order["id"])[0]["id"]
    assert charged(server, order["id"]) == [(2500, "usd")]


def test_a_lost_answer_from_stripe_then_a_retry_with_the_same_card_charges_once(
        server: LiveServer, proxy: AnswerDroppingProxy, alice: Buyer) -> None:
    """Stripe creates and charges the intent, but its answer never reaches orderpay (the proxy closes the
    connection after Stripe acted, for the SDK's retry too). The buyer is told to try again and clicks Pay
    again with the same card: the retry finds the charge Stripe made and applies it, and asks Stripe to
    create nothing more."""
    card = alice.save_card(VISA)
    order = alice.create_order()
    asked_before, dropped_before = len(proxy.seen), len(proxy.dropped)
    with proxy.drop_answers("POST", "/v1/payment_intents", times=2) as dropped:
        lost = err(alice.pay(order["id"], card["paymentMethodId"]), 502)
    assert len(dropped) - dropped_before == 2 and "try again" in lost["message"]
    assert alice.order(order["id"])["_paymentConfirmation"] != "paid"

    retry = ok(alice.pay(order["id"], card["paymentMethodId"]))
    assert retry["order"]["_paymentConfirmation"] == "paid"
    assert retry["paymentResult"]["success"] is True
    creates = [key for request, key in zip(proxy.seen[asked_before:], proxy.idempotency_keys[asked_before:])
               if request == "POST /v1/payment_intents"]
    # The lost call and the SDK's retry of it, with one idempotency key; the buyer's retry created nothing.
    assert len(creates) == 2 and creates[0] is not None and len(set(creates)) == 1, creates
    assert [intent["id"] for intent in intents_of(server, order["id"])] == [retry["paymentResult"]["paymentId"]]
    assert charged(server, order["id"]) == [(2500, "usd")]


def test_a_lost_answer_is_recovered_by_the_reconciler_with_no_click(
        server: LiveServer, proxy: AnswerDroppingProxy, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    with proxy.drop_answers("POST", "/v1/payment_intents", times=2):
        err(alice.pay(order["id"], card["paymentMethodId"]), 502)
    assert alice.order(order["id"])["_paymentConfirmation"] == "pending"

    paid = alice.wait_for_confirmation(order["id"], "paid", timeout=15)  # nobody clicks, nothing is delivered
    assert paid["status"] == "paid"
    assert alice.payment_record(order["id"])["attemptState"] == "settled"
    assert charged(server, order["id"]) == [(2500, "usd")]


def test_reconcilers_of_several_replicas_resolve_a_lost_answer_once(
        server: LiveServer, proxy: AnswerDroppingProxy, alice: Buyer, app: OrderApp) -> None:
    """Three reconciler passes at once (three replicas' on one database): each record is claimed by
    one of them (a conditional UPDATE on its version), so Stripe is asked once and one transition is made."""
    card = alice.save_card(VISA)
    order = alice.create_order()
    with proxy.drop_answers("POST", "/v1/payment_intents", times=2):
        err(alice.pay(order["id"], card["paymentMethodId"]), 502)
    asked_before = len(proxy.seen)
    payments = server.runtime.payments

    async def three_at_once() -> list[int]:
        return list(await asyncio.gather(*(payments.reconcile(older_than=0) for _ in range(3))))

    on_server(server, three_at_once)
    assert alice.order(order["id"])["_paymentConfirmation"] == "paid"
    lookups = [r for r in proxy.seen[asked_before:] if r.startswith("GET /v1/payment_intents?")]
    assert len(lookups) == 1, lookups
    assert [e["topic"] for e in payment_events(server, app, order["id"])] == [app.topic("refreshed")]
    assert charged(server, order["id"]) == [(2500, "usd")]


def test_an_attempt_that_never_reached_stripe_is_settled_by_the_reconciler(
        server: LiveServer, stripe_service: ExternalStripe, alice: Buyer) -> None:
    """Stripe down during the call: nothing charged; the reconciler ends the attempt, so another card pays."""
    card = alice.save_card(VISA)
    other = alice.save_card(MASTERCARD)
    order = alice.create_order()
    stripe_service.stop()
    try:
        err(alice.pay(order["id"], card["paymentMethodId"]), 502)
    finally:
        stripe_service.start()
    eventually(lambda: alice.payment_record(order["id"])["attemptState"] == "settled", timeout=15,
               message="the reconciler never settled the attempt Stripe never received")
    paid = ok(alice.pay(order["id"], other["paymentMethodId"]))
    assert paid["order"]["_paymentConfirmation"] == "paid"
    assert [(i["status"], i["payment_method"]) for i in intents_of(server, order["id"])] == [
        ("succeeded", other["paymentMethodId"])]


def test_a_retry_after_stripe_forgot_the_idempotency_key_charges_once(
        server: LiveServer, proxy: AnswerDroppingProxy, stripe_service: ExternalStripe, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    with proxy.drop_answers("POST", "/v1/payment_intents", times=2):
        err(alice.pay(order["id"], card["paymentMethodId"]), 502)
    stripe_service.admin("forget_idempotency_keys")  # a day later, as far as Stripe's keys go

    retry = ok(alice.pay(order["id"], card["paymentMethodId"]))
    assert retry["order"]["_paymentConfirmation"] == "paid"
    assert len(intents_of(server, order["id"])) == 1 and charged(server, order["id"]) == [(2500, "usd")]


# -- 4. refused is not unknown -----------------------------------------------------------------


def test_a_refused_payment_lets_another_card_pay_at_once(
        server: LiveServer, proxy: AnswerDroppingProxy, alice: Buyer) -> None:
    detached = alice.save_card(VISA_DEBIT)  # a card no other test saves (a card saved again is the saved one)
    stripe_api(server).v1.payment_methods.detach(detached["paymentMethodId"])  # removed in the Stripe dashboard
    other = alice.save_card(MASTERCARD)
    order = alice.create_order()

    refused = ok(alice.pay(order["id"], detached["paymentMethodId"]))
    error = refused["paymentResult"]
    assert error["result"] == "ERR" and error["status"] == 400 and "removed at Stripe" in error["message"], error
    record = alice.payment_record(order["id"])
    assert (record["attemptState"], record["statusLiteral"]) == ("settled", "failed")
    # The detached card is marked unusable: still listed, and refused before Stripe is asked again.
    saved = {card["paymentMethodId"]: card for card in alice.cards()}
    assert saved[detached["paymentMethodId"]]["cardInfo"]["usable"] is False
    asked_before = len(proxy.seen)
    err(alice.pay(order["id"], detached["paymentMethodId"]), 400)
    assert not [request for request in proxy.seen[asked_before:] if request.startswith("POST /v1/payment_intents")]

    paid = ok(alice.pay(order["id"], other["paymentMethodId"]))  # at once: no 409
    assert paid["order"]["_paymentConfirmation"] == "paid"
    assert charged(server, order["id"]) == [(2500, "usd")]


def test_an_amount_below_stripes_minimum_is_refused_and_the_order_can_be_corrected(server: LiveServer, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order(totalAmount=10)
    error = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
    assert (error["result"], error["errCode"]) == ("ERR", "amount_too_small"), error
    ok(change_amount(alice, order["id"], 1000))  # nothing in flight: the order may change
    assert ok(alice.pay(order["id"], card["paymentMethodId"]))["order"]["_paymentConfirmation"] == "paid"
    assert charged(server, order["id"]) == [(1000, "usd")]


# -- 7. fidelity: a Stripe account switch ------------------------------------------------------


def test_a_customer_unknown_to_the_stripe_account_is_replaced(
        server: LiveServer, stripe_service: ExternalStripe, bob: Buyer) -> None:
    old_card = bob.save_card(VISA)
    old_customer = old_card["customerId"]
    stripe_service.admin("reset")  # another Stripe account: none of the stored ids exist there

    new = bob.save_card(MASTERCARD)
    assert new["customerId"] != old_customer
    cards = {card["paymentMethodId"]: card for card in bob.cards()}
    assert cards[old_card["paymentMethodId"]]["cardInfo"]["usable"] is False
    assert cards[new["paymentMethodId"]]["cardInfo"].get("usable", True) is True
    order = bob.create_order()
    unusable = err(bob.pay(order["id"], old_card["paymentMethodId"]), 400)
    assert "another Stripe account" in unusable["message"]
    ok(bob.delete_card(old_card["paymentMethodId"]))  # deleted locally: Stripe has nothing to detach
    assert [card["paymentMethodId"] for card in bob.cards()] == [new["paymentMethodId"]]
    assert ok(bob.pay(order["id"], new["paymentMethodId"]))["order"]["_paymentConfirmation"] == "paid"
    assert stripe_api(server).v1.customers.retrieve(new["customerId"]).id == new["customerId"]
