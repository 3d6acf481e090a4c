"""What goes wrong around a payment — lost answers, double clicks, abandoned or failed
3-D Secure, someone else's order or card, odd card ids — never charges a buyer twice,
never charges the wrong buyer, and always leaves the order in a state they can act on.

A lost answer from Stripe followed by a retry with the same card, and a second click while Stripe's
answer is on its way, are tested at the HTTP seam to Stripe (a proxy in front of a separate sandbox)
in test_exactly_once.py and test_interleavings.py."""
from __future__ import annotations

import json
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.payments.helpers import (
    MASTERCARD,
    PROCESSING,
    THREE_DS,
    VISA,
    Buyer,
    OrderApp,
    complete_challenge,
    err,
    eventually,
    intents_of,
    ok,
    payment_events,
    stripe_api,
    succeeded_intents,
    webhooks_held,
    webhooks_settled,
)
from tests.support import LiveServer


def start_body(payment_method_id: str) -> dict[str, Any]:
    return {"paymentUserParams": {"paymentMethodId": payment_method_id}}


def test_two_pay_clicks_at_once_create_one_payment_intent_and_charge_once(store: LiveServer, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    clicks = 3
    barrier = threading.Barrier(clicks)
    answers: list[httpx.Response] = []

    def click() -> None:
        with store.client("alice") as http:
            barrier.wait()
            answers.append(http.patch(f"{alice.app.start}/{order['id']}", json=start_body(card["paymentMethodId"])))

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted({answer.status_code for answer in answers}) in ([200], [200, 409]), [a.text for a in answers]
    paid = [answer.json() for answer in answers if answer.status_code == 200]
    assert {body["paymentResult"]["paymentId"] for body in paid} == {paid[0]["paymentResult"]["paymentId"]}
    assert all(body["order"]["_paymentConfirmation"] == "paid" for body in paid)
    assert [intent["status"] for intent in intents_of(store, order["id"])] == ["succeeded"], "one PaymentIntent, charged once"
    assert alice.order(order["id"])["_paymentConfirmation"] == "paid"


def test_paying_an_order_that_is_already_paid_is_refused_and_charges_nothing(
        store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    visa = alice.save_card(VISA)
    other_card = alice.save_card(MASTERCARD)
    order = alice.create_order()
    ok(alice.pay(order["id"], visa["paymentMethodId"]))
    paid = alice.order(order["id"])
    webhooks_settled(store, alice.payment_record(order["id"])["paymentId"])
    events = payment_events(store, store_app, order["id"])

    for card in (visa, other_card):
        refused = err(alice.pay(order["id"], card["paymentMethodId"]), 409)
        assert "already paid" in refused["message"]
    assert len(intents_of(store, order["id"])) == 1
    assert alice.order(order["id"]) == paid
    assert len(payment_events(store, store_app, order["id"])) == len(events)


def test_another_users_order_or_card_is_not_found(store: LiveServer, alice: Buyer, bob: Buyer) -> None:
    alices_card = alice.save_card(VISA)
    bobs_card = bob.save_card(VISA)
    order = alice.create_order()

    err(bob.pay(order["id"], bobs_card["paymentMethodId"]), 404)  # bob cannot pay (or probe) alice's order
    err(bob.refresh(order["id"]), 404)
    err(bob.http.get(f"{bob.app.prefix}/v1/orderpaymentbyorderid/{order['id']}"), 404)
    err(alice.pay(order["id"], bobs_card["paymentMethodId"]), 404)  # nor alice charge bob's card
    err(alice.add_card(bobs_card["paymentMethodId"]), 404)  # nor take it over
    err(bob.delete_card(alices_card["paymentMethodId"]), 404)

    assert alices_card["paymentMethodId"] in [card["paymentMethodId"] for card in alice.cards()]
    assert bobs_card["paymentMethodId"] in [card["paymentMethodId"] for card in bob.cards()]
    assert bobs_card["paymentMethodId"] not in [card["paymentMethodId"] for card in alice.cards()]
    assert alice.order(order["id"]) == order
    assert intents_of(store, order["id"]) == []


def test_3d_secure_completed_and_then_refreshed_without_any_webhook(
        store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    """Seed 004's refresh API: polling instead of webhooks (here Stripe's webhooks never arrive)."""
    with webhooks_held(store) as held:
        card = alice.save_card(THREE_DS)
        order = alice.create_order()
        result = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
        assert result["paymentIntentInfo"]["status"] == "requires_action"
        assert complete_challenge(store, result, "Complete").status_code == 303
        # Stripe has charged the card and sent its succeeded event; it never arrived.
        intent_id = result["paymentIntentInfo"]["paymentIntentId"]
        eventually(lambda: any(event["type"] == "payment_intent.succeeded" and event["data"]["object"]["id"] == intent_id
                               for event in held.events))
        assert alice.order(order["id"])["_paymentConfirmation"] == "processing"

        refreshed = ok(alice.refresh(order["id"]))
        assert (refreshed["dataName"], refreshed["method"]) == ("order", "PATCH")
        assert refreshed["order"]["_paymentConfirmation"] == "paid"
        assert refreshed["order"]["status"] == store_app.mapped["success"]
        assert refreshed["paymentResult"]["statusLiteral"] == "success"
        assert refreshed["paymentResult"]["paymentStatus"] == "succeeded"
        assert alice.payment_record(order["id"])["statusLiteral"] == "success"
        topics = [event["topic"] for event in payment_events(store, store_app, order["id"])]
        assert topics[-1] == store_app.topic("refreshed")

        # Refreshing again changes nothing more.
        ok(alice.refresh(order["id"]))
        assert [event["topic"] for event in payment_events(store, store_app, order["id"])] == topics


def test_3d_secure_in_the_stripe_js_modal_when_no_return_url_is_given(store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    card = alice.save_card(THREE_DS)
    order = alice.create_order()
    result = ok(alice.pay(order["id"], card["paymentMethodId"], return_url=None))["paymentResult"]
    assert result["paymentUserParams"] == {"paymentMethodId": card["paymentMethodId"]}
    info = result["paymentIntentInfo"]
    assert info["status"] == "requires_action" and info["nextAction"]["type"] == "use_stripe_sdk"

    finished = complete_challenge(store, result, "Complete")  # the framed page reports back to Stripe.js
    assert finished.status_code == 200
    paid = alice.wait_for_confirmation(order["id"], "paid")
    assert paid["status"] == store_app.mapped["success"]


def test_3d_secure_failed_then_another_card_pays(store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    three_ds = alice.save_card(THREE_DS)
    visa = alice.save_card(VISA)
    order = alice.create_order()
    result = ok(alice.pay(order["id"], three_ds["paymentMethodId"]))["paymentResult"]

    back = complete_challenge(store, result, "Fail")
    assert parse_qs(urlsplit(back.headers["location"]).query)["redirect_status"] == ["failed"]
    failed = alice.wait_for_confirmation(order["id"], "canceled")
    assert failed["status"] == store_app.mapped["failed"]
    record = alice.payment_record(order["id"])
    assert record["statusLiteral"] == "failed"
    assert (record["lastError"] or {}).get("code") == "payment_intent_authentication_failure"

    retry = ok(alice.pay(order["id"], visa["paymentMethodId"]))
    assert retry["order"]["_paymentConfirmation"] == "paid"
    assert [i["id"] for i in succeeded_intents(store, order["id"])] == [retry["paymentResult"]["paymentId"]]


def test_an_abandoned_3d_secure_payment_is_canceled_by_the_next_attempt(store: LiveServer, alice: Buyer) -> None:
    with webhooks_held(store):  # independent of when Stripe's webhooks arrive
        three_ds = alice.save_card(THREE_DS)
        visa = alice.save_card(VISA)
        order = alice.create_order()
        abandoned = ok(alice.pay(order["id"], three_ds["paymentMethodId"]))["paymentResult"]
        info = abandoned["paymentIntentInfo"]
        assert info["status"] == "requires_action"
        browser = stripe_api(store, info["publicKey"])
        pending = browser.v1.payment_intents.retrieve(info["paymentIntentId"], params={"client_secret": info["clientSecret"]})
        challenge_url = pending.next_action.redirect_to_url.url  # type: ignore[union-attr]

        # The buyer closes the bank's page and pays with another card instead.
        paid = ok(alice.pay(order["id"], visa["paymentMethodId"]))
    assert paid["order"]["_paymentConfirmation"] == "paid"
    assert stripe_api(store).v1.payment_intents.retrieve(info["paymentIntentId"]).status == "canceled"

    # Coming back to the old challenge later cannot charge a second time.
    page = httpx.get(challenge_url, timeout=10)
    assert "Nothing to authenticate" in page.text
    secret = challenge_url.split("client_secret=")[1]
    httpx.post(challenge_url.split("?")[0], data={"client_secret": secret, "frame": "", "outcome": "complete"}, timeout=10)
    assert [i["id"] for i in succeeded_intents(store, order["id"])] == [paid["paymentResult"]["paymentId"]]


def test_a_payment_still_processing_refuses_another_attempt_and_settles_later(
        store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    slow = alice.save_card(PROCESSING)
    visa = alice.save_card(VISA)
    order = alice.create_order()
    body = ok(alice.pay(order["id"], slow["paymentMethodId"]))
    assert body["paymentResult"]["paymentIntentInfo"]["status"] == "processing"
    assert body["order"]["_paymentConfirmation"] == "processing"

    err(alice.pay(order["id"], visa["paymentMethodId"]), 409)

    settled = alice.wait_for_confirmation(order["id"], "paid")  # Stripe settles it and says so by webhook
    assert settled["status"] == store_app.mapped["success"]
    assert [i["id"] for i in succeeded_intents(store, order["id"])] == [body["paymentResult"]["paymentIntentInfo"]["paymentIntentId"]]
    assert len(intents_of(store, order["id"])) == 1


def test_a_card_already_detached_on_stripe_is_still_removed(store: LiveServer, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    stripe_api(store).v1.payment_methods.detach(card["paymentMethodId"])  # e.g. removed in Stripe's dashboard

    removed = ok(alice.delete_card(card["paymentMethodId"]))
    assert removed["paymentMethodId"] == card["paymentMethodId"]
    assert card["paymentMethodId"] not in [c["paymentMethodId"] for c in alice.cards()]
    err(alice.delete_card(card["paymentMethodId"]), 404)

    # The seeds also document POST for this route; the card is detached on Stripe too.
    other = alice.save_card(VISA)
    ok(alice.delete_card(other["paymentMethodId"], method="POST"))
    assert other["paymentMethodId"] not in [c["paymentMethodId"] for c in alice.cards()]
    assert stripe_api(store).v1.payment_methods.retrieve(other["paymentMethodId"]).customer is None


def test_unknown_or_malformed_payment_method_ids(store: LiveServer, alice: Buyer, bob: Buyer) -> None:
    order = alice.create_order()
    bobs = bob.save_card(MASTERCARD)
    unknown = "pm_" + uuid.uuid4().hex[:24]
    err(alice.add_card(unknown), 404)
    for malformed in ("not-a-payment-method", "", 42, None, "cus_123", "pm_" + "x" * 300):
        err(alice.add_card(malformed), 400)  # type: ignore[arg-type]
    err(alice.pay(order["id"], unknown), 404)
    err(alice.pay(order["id"], bobs["paymentMethodId"]), 404)  # a real card, saved by someone else
    err(alice.delete_card(unknown), 404)
    err(alice.pay(order["id"], "not-a-payment-method"), 400)

    assert alice.order(order["id"]) == order
    err(alice.http.get(f"{alice.app.prefix}/v1/orderpaymentbyorderid/{order['id']}"), 404)  # nothing was started


def test_start_payment_refuses_bad_input_before_anything_is_charged(store: LiveServer, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    url = f"{alice.app.start}/{order['id']}"
    pm = card["paymentMethodId"]
    for body in ({}, {"paymentUserParams": pm}, {"paymentUserParams": {}},
                 {"paymentUserParams": {"paymentMethodId": pm, "amount": 1}},
                 {"paymentUserParams": {"paymentMethodId": pm, "return_url": "javascript:alert(1)"}}):
        err(alice.http.patch(url, json=body), 400)
    err(alice.http.patch(url, content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert alice.http.patch(f"{alice.app.start}/not-a-uuid", json=start_body(pm)).status_code in (400, 404)
    err(alice.http.patch(f"{alice.app.start}/{uuid.uuid4()}", json=start_body(pm)), 404)
    with store.client() as anonymous:
        err(anonymous.patch(url, json=start_body(pm)), 401)
    assert alice.order(order["id"]) == order
    assert intents_of(store, order["id"]) == []


def test_a_buyer_cannot_mark_their_order_paid_without_paying(store_app: OrderApp, alice: Buyer) -> None:
    """The payment flow alone writes `_paymentConfirmation` and the order status it maps (the seeds: the
    status "is updated automatically by the payment flow"); the order's own update API must refuse both."""
    order = alice.create_order()
    url = f"{store_app.prefix}/v1/{store_app.plural}/{order['id']}"
    err(alice.http.patch(url, json={"_paymentConfirmation": "paid"}), 400)
    err(alice.http.patch(url, json={store_app.status_field: store_app.mapped["success"]}), 400)
    assert alice.order(order["id"]) == order


def test_refreshing_an_order_never_paid_reports_no_payment(store: LiveServer, alice: Buyer) -> None:
    order = alice.create_order()
    body = ok(alice.refresh(order["id"]))
    assert body["order"] == order and body["paymentResult"] is None


def test_saving_the_same_card_twice_keeps_one_entry(store: LiveServer, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    again = ok(alice.add_card(card["paymentMethodId"]))
    assert again["id"] == card["id"]
    assert [c["paymentMethodId"] for c in alice.cards()].count(card["paymentMethodId"]) == 1
    assert json.dumps(again)  # plain JSON, no envelope (seed 002)


def test_a_card_removed_in_stripes_dashboard_and_typed_again_is_saved_anew_and_pays(
        store: LiveServer, alice: Buyer) -> None:
    """The buyer's saved card was detached in Stripe's dashboard. They type the same card again: answering
    with the saved one (same fingerprint) would hand them a card Stripe can no longer charge, so orderpay
    checks it at Stripe, marks it unusable and saves the new one."""
    old = alice.save_card(VISA)
    stripe_api(store).v1.payment_methods.detach(old["paymentMethodId"])  # the dashboard, with the secret key

    new = alice.save_card(VISA)
    assert (new["id"], new["paymentMethodId"]) != (old["id"], old["paymentMethodId"])
    assert new["cardInfo"]["fingerprint"] == old["cardInfo"]["fingerprint"]
    assert stripe_api(store).v1.payment_methods.retrieve(new["paymentMethodId"]).customer == new["customerId"]
    cards = {card["paymentMethodId"]: card for card in alice.cards()}
    assert cards[old["paymentMethodId"]]["cardInfo"]["usable"] is False  # still listed, so it can be deleted
    assert cards[new["paymentMethodId"]]["cardInfo"].get("usable", True) is True
    assert alice.save_card(VISA)["id"] == new["id"], "typed a third time: the new saved card, not another"

    order = alice.create_order()
    refused = err(alice.pay(order["id"], old["paymentMethodId"]), 400)
    assert "no longer pay" in refused["message"]
    assert intents_of(store, order["id"]) == [], "refused before Stripe was asked"
    paid = ok(alice.pay(order["id"], new["paymentMethodId"]))
    assert paid["order"]["_paymentConfirmation"] == "paid"
    assert [(i["payment_method"], i["amount"]) for i in succeeded_intents(store, order["id"])] == [
        (new["paymentMethodId"], 2500)]
