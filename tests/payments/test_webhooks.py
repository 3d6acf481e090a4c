"""Stripe's webhooks reach orderpay over HTTP, signed with Stripe's scheme. Every delivery is
verified, stored, and applied at most once; repeats, races, late and out-of-order events
never change a payment twice, and forgeries change nothing."""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.payments.helpers import (
    THREE_DS,
    VISA,
    Buyer,
    OrderApp,
    complete_challenge,
    deliveries,
    event_bytes,
    fresh_event,
    ok,
    outbox,
    published,
    payment_events,
    post_webhook,
    sign,
    stripe_api,
    stripe_event,
    webhook_secret,
    webhooks_held,
    webhooks_settled,
)
from tests.support import LiveServer

WEBHOOK = "/ordermanagement-api/stripe-webhook"


def callback(app: OrderApp, order_id: str) -> str:
    return f"{app.callback}/{order_id}"


def authenticated_but_unnotified(server: LiveServer, buyer: Buyer) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """A 3-D Secure payment the buyer has completed on Stripe while Stripe's webhooks are held back:
    Stripe says succeeded, orderpay does not know yet. Returns (order, Stripe's succeeded event, the
    body the test may post for it)."""
    card = buyer.save_card(THREE_DS)
    order = buyer.create_order()
    result = ok(buyer.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
    assert result["paymentIntentInfo"]["status"] == "requires_action"
    assert complete_challenge(server, result, "Complete").status_code == 303
    assert buyer.order(order["id"])["_paymentConfirmation"] != "paid"
    event = stripe_event(server, result["paymentIntentInfo"]["paymentIntentId"], "payment_intent.succeeded")
    return order, event, event_bytes(event)


def test_a_signed_succeeded_event_marks_the_order_paid_and_repeats_change_nothing(
        store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    with webhooks_held(store):
        order, event, body = authenticated_but_unnotified(store, alice)

        first = ok(post_webhook(store, body, path=WEBHOOK))
        assert first == {"status": "OK", "eventId": event["id"], "result": "processed"}
        paid = alice.order(order["id"])
        assert paid["_paymentConfirmation"] == "paid" and paid["status"] == store_app.mapped["success"]
        events_after_first = payment_events(store, store_app, order["id"])
        assert events_after_first[-1]["topic"] == store_app.topic("calledback")
        assert events_after_first[-1]["payload"]["webhookData"]["id"] == event["id"]

        # Stripe delivers at least once: the same event again, on either route, is a no-op.
        again = ok(post_webhook(store, body, path=WEBHOOK))
        assert again["result"] == "duplicate"
        on_callback = ok(post_webhook(store, body, path=callback(store_app, order["id"])))
        assert on_callback["result"] == "duplicate" and on_callback["message"] == "Webhook processed successfully"

        assert published(payment_events(store, store_app, order["id"])) == published(events_after_first)
        assert alice.order(order["id"]) == paid
        [stored] = deliveries(store, event["id"])
        assert (stored["status"], stored["deliveries"]) == ("processed", 3)


def test_the_same_event_delivered_concurrently_is_applied_once(store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    with webhooks_held(store):
        order, event, body = authenticated_but_unnotified(store, alice)
        signature = sign(body, webhook_secret(store))
        paths = [WEBHOOK, callback(store_app, order["id"])] * 3
        barrier = threading.Barrier(len(paths))
        answers: list[httpx.Response] = []

        def deliver(path: str) -> None:
            with httpx.Client(base_url=store.base_url, timeout=30) as http:
                barrier.wait()
                answers.append(http.post(path, content=body, headers={"Stripe-Signature": signature,
                                                                      "Content-Type": "application/json"}))

        threads = [threading.Thread(target=deliver, args=(path,)) for path in paths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert [answer.status_code for answer in answers] == [200] * len(paths), [answer.text for answer in answers]
        assert {answer.json()["result"] for answer in answers} <= {"processed", "duplicate"}
        assert alice.order(order["id"])["_paymentConfirmation"] == "paid"
        topics = [event["topic"] for event in payment_events(store, store_app, order["id"])]
        assert topics.count(store_app.topic("calledback")) == 1, "one transition, one payment event"
        record = alice.payment_record(order["id"])
        table = store.runtime.payments.outbox
        success_updates = [row for row in outbox(store, table.c.key == record["id"], table.c.topic == store_app.dbevent("updated"))
                           if row["payload"]["record"]["statusLiteral"] == "success"]
        assert len(success_updates) == 1
        assert deliveries(store, event["id"])[0]["deliveries"] == len(paths)


def test_payment_events_never_carry_the_payment_intents_client_secret(
        store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    """The flow keeps client secrets out of the events it publishes (paymentResult.clientSecret is
    null there); the same holds for the Stripe event a `calledback` payment event carries as webhookData."""
    card = alice.save_card(THREE_DS)
    order = alice.create_order()
    result = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
    complete_challenge(store, result, "Complete")
    alice.wait_for_confirmation(order["id"], "paid")
    webhooks_settled(store, result["paymentIntentInfo"]["paymentIntentId"])
    events = payment_events(store, store_app, order["id"])
    assert store_app.topic("calledback") in [event["topic"] for event in events]
    secret = result["paymentIntentInfo"]["clientSecret"]
    for event in events:
        assert secret not in json.dumps(event["payload"]), f"{event['topic']} carries the client secret"


def test_a_late_failure_event_after_success_leaves_the_order_paid(store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    result = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
    webhooks_settled(store, result["paymentId"])
    before = payment_events(store, store_app, order["id"])
    intent = stripe_api(store).v1.payment_intents.retrieve(result["paymentId"]).to_dict()

    # Stripe does not guarantee order: earlier states arriving after `succeeded` change nothing.
    late = [
        fresh_event(intent, "payment_intent.payment_failed", status="requires_payment_method", last_payment_error={
            "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined.",
            "type": "card_error"}),
        fresh_event(intent, "payment_intent.processing", status="processing"),
        fresh_event(intent, "payment_intent.requires_action", status="requires_action"),
        fresh_event(intent, "payment_intent.created", status="requires_confirmation"),
    ]
    for event in late:
        assert ok(post_webhook(store, event_bytes(event), path=WEBHOOK))["result"] == "processed"

    still = alice.order(order["id"])
    assert still["_paymentConfirmation"] == "paid" and still["status"] == store_app.mapped["success"]
    record = alice.payment_record(order["id"])
    assert (record["paymentStatus"], record["statusLiteral"]) == ("succeeded", "success")
    assert published(payment_events(store, store_app, order["id"])) == published(before)


def test_an_event_whose_payment_is_not_recorded_yet_answers_503_so_stripe_retries(
        store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    order = alice.create_order()
    intent = {"id": f"pi_test_{uuid.uuid4().hex[:20]}", "object": "payment_intent", "amount": 2500, "currency": "usd",
              "status": "succeeded", "last_payment_error": None, "client_secret": "pi_x_secret_y",
              "metadata": {"orderpayApp": store_app.codename, "orderpayObject": store_app.name, "orderId": order["id"],
                           "orderpayAttempt": "1"}}
    event = fresh_event(intent, "payment_intent.succeeded")
    response = post_webhook(store, event_bytes(event), path=WEBHOOK)
    assert response.status_code == 503, response.text
    assert response.json()["result"] == "ERR"
    assert alice.order(order["id"]) == order
    assert alice.http.get(f"{store_app.prefix}/v1/orderpaymentbyorderid/{order['id']}").status_code == 404
    [stored] = deliveries(store, event["id"])
    assert stored["status"] == "failed", "kept, so that Stripe's retry is processed"
    assert payment_events(store, store_app, order["id"]) == []


def test_events_that_are_not_ours_are_acknowledged_and_ignored(store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    order = alice.create_order()
    other_system = fresh_event({"id": "pi_other_system", "object": "payment_intent", "status": "succeeded",
                                "metadata": {"orderpayApp": "another-app", "orderId": order["id"]}}, "payment_intent.succeeded")
    no_metadata = fresh_event({"id": "pi_no_metadata", "object": "payment_intent", "status": "succeeded", "metadata": {}},
                              "payment_intent.succeeded")
    a_customer = fresh_event({"id": "cus_x", "object": "customer", "metadata": {}}, "customer.created")
    for event in (other_system, no_metadata, a_customer):
        assert ok(post_webhook(store, event_bytes(event), path=WEBHOOK))["result"] == "ignored"
    assert alice.order(order["id"])["_paymentConfirmation"] == "pending"


def test_the_order_callback_route_refuses_another_orders_event(store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    with webhooks_held(store):
        order, event, body = authenticated_but_unnotified(store, alice)
        other = alice.create_order()
        wrong = post_webhook(store, body, path=callback(store_app, other["id"]))
        assert wrong.status_code == 400, wrong.text
        assert alice.order(order["id"])["_paymentConfirmation"] != "paid"
        assert alice.order(other["id"]) == other
        # Delivered to the right order's callback, it is applied.
        assert ok(post_webhook(store, body, path=callback(store_app, order["id"])))["result"] == "processed"
        assert alice.order(order["id"])["_paymentConfirmation"] == "paid"


# -- forgeries and broken deliveries -------------------------------------------------------


@pytest.fixture(scope="module")
def awaiting_authentication(store: LiveServer, store_app: OrderApp) -> dict[str, Any]:
    """An order of bob's whose 3-D Secure challenge is open: a forged `succeeded` would wrongly mark it paid."""
    buyer = Buyer(store, "bob", store_app)
    try:
        card = buyer.save_card(THREE_DS)
        order = buyer.create_order()
        result = ok(buyer.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
        assert result["paymentIntentInfo"]["status"] == "requires_action"
        intent_id = result["paymentIntentInfo"]["paymentIntentId"]
        webhooks_settled(store, intent_id)
        intent = stripe_api(store).v1.payment_intents.retrieve(intent_id).to_dict()
        return {"order": buyer.order(order["id"]), "intent": intent}
    finally:
        buyer.close()


def _forged_success(awaiting: dict[str, Any]) -> bytes:
    return event_bytes(fresh_event(awaiting["intent"], "payment_intent.succeeded", status="succeeded"))


def _reserialized(body: bytes, secret: str, tolerance: int) -> tuple[bytes, str]:
    return json.dumps(json.loads(body), separators=(",", ":")).encode(), sign(body, secret)


def _resigned(body: bytes, secret: str, timestamp: int) -> tuple[bytes, str]:
    return body, sign(body, secret, timestamp)


BROKEN_DELIVERIES = {
    "body re-serialized after signing": _reserialized,
    "signed with another secret": lambda body, secret, tolerance: (body, sign(body, "whsec_not_ours")),
    "no Stripe-Signature header": lambda body, secret, tolerance: (body, None),
    "empty Stripe-Signature header": lambda body, secret, tolerance: (body, ""),
    "replayed after the tolerance": lambda body, secret, tolerance: _resigned(body, secret, int(time.time()) - tolerance - 30),
    "timestamp in the future": lambda body, secret, tolerance: _resigned(body, secret, int(time.time()) + tolerance + 3600),
    "garbage header": lambda body, secret, tolerance: (body, "garbage"),
    "timestamp not a number": lambda body, secret, tolerance: (body, "t=yesterday," + sign(body, secret).split(",")[1]),
    "no timestamp": lambda body, secret, tolerance: (body, sign(body, secret).split(",")[1]),
    "no v1 signature": lambda body, secret, tolerance: (body, sign(body, secret).split(",")[0]),
    "only a v0 signature": lambda body, secret, tolerance: (body, sign(body, secret).replace("v1=", "v0=")),
    "signature of another body": lambda body, secret, tolerance: (body, sign(body + b" ", secret)),
}


@pytest.mark.parametrize("case", list(BROKEN_DELIVERIES))
def test_a_delivery_that_is_not_provably_from_stripe_is_refused_and_changes_nothing(
        store: LiveServer, store_app: OrderApp, bob: Buyer, awaiting_authentication: dict[str, Any], case: str) -> None:
    order = awaiting_authentication["order"]
    original = _forged_success(awaiting_authentication)
    body, signature = BROKEN_DELIVERIES[case](original, webhook_secret(store), store.settings.stripe_webhook_tolerance_seconds)
    events_before = payment_events(store, store_app, order["id"])
    for path in (WEBHOOK, callback(store_app, order["id"])):
        response = post_webhook(store, body, path=path, signature=signature)
        assert response.status_code == 400, f"{path}: {response.status_code} {response.text}"
        error = response.json()
        assert error["result"] == "ERR" and error["status"] == 400 and error["message"]
    assert deliveries(store, json.loads(original)["id"]) == [], "only verified deliveries are stored"
    assert bob.order(order["id"]) == order
    assert published(payment_events(store, store_app, order["id"])) == published(events_before)


def test_a_signature_made_with_any_current_secret_is_accepted(store: LiveServer, awaiting_authentication: dict[str, Any]) -> None:
    """During a secret roll Stripe signs with the old and the new secret: one valid v1 is enough."""
    event = fresh_event(awaiting_authentication["intent"], "payment_intent.requires_action")
    body = event_bytes(event)
    good = sign(body, webhook_secret(store))
    timestamp, valid = good.split(",")
    stale = sign(body, "whsec_rolled_away", int(timestamp[2:])).split(",")[1]
    response = post_webhook(store, body, path=WEBHOOK, signature=f"{timestamp},{stale},{valid}")
    assert ok(response)["result"] == "processed"


# -- a handler failing half way ------------------------------------------------------------


class Exploding:
    """Stands in for the spec's compiled success mapping: fails half way through applying a payment."""

    references = ()  # like the store's mapping, a status that reads nothing of the order

    def evaluate(self, context: Any) -> Any:
        raise RuntimeError("injected fault: the order status could not be computed")


def test_a_webhook_failing_half_way_applies_nothing_and_is_processed_on_stripes_retry(
        store: LiveServer, store_app: OrderApp, alice: Buyer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault is injected with a mock: the spec's success mapping raises, after the payment record
    has been updated inside the webhook's transaction and before the order is."""
    with webhooks_held(store):
        order, event, body = authenticated_but_unnotified(store, alice)
        order_before = alice.order(order["id"])
        record_before = alice.payment_record(order["id"])
        table = store.runtime.payments.outbox
        keys = (order["id"], record_before["id"])
        outbox_before = outbox(store, table.c.key.in_(keys))

        scripts = store.runtime.payments.orders[store_app.name].scripts
        monkeypatch.setitem(scripts.status_for_result, "success", Exploding())
        failed = post_webhook(store, body, path=WEBHOOK)
        assert 500 <= failed.status_code < 600, failed.text
        assert failed.json()["result"] == "ERR"
        assert alice.order(order["id"]) == order_before
        assert alice.payment_record(order["id"]) == record_before, "the record update was rolled back with the rest"
        assert published(outbox(store, table.c.key.in_(keys))) == published(outbox_before), "no event for a change that did not happen"
        [stored] = deliveries(store, event["id"])
        assert stored["status"] == "failed" and "injected fault" in (stored["lastError"] or "")

        monkeypatch.undo()
        assert ok(post_webhook(store, body, path=WEBHOOK))["result"] == "processed"  # Stripe's retry
        assert alice.order(order["id"])["_paymentConfirmation"] == "paid"
        topics = [row["topic"] for row in payment_events(store, store_app, order["id"])]
        assert topics.count(store_app.topic("calledback")) == 1
        assert deliveries(store, event["id"])[0]["status"] == "processed"


def test_a_second_charge_for_a_paid_order_is_refunded_logged_and_published(
        store: LiveServer, alice: Buyer, app: OrderApp) -> None:
    """The order is paid; then Stripe reports another succeeded charge for it (say, a replica that lost
    its answer and paid again). Stripe's real webhook brings it; orderpay refunds it in full, once."""
    card = alice.save_card(VISA)
    order = alice.create_order()
    paid = ok(alice.pay(order["id"], card["paymentMethodId"]))
    first = paid["paymentResult"]["paymentId"]
    webhooks_settled(store, first)

    second = stripe_api(store).v1.payment_intents.create(params={
        "amount": 2500, "currency": "usd", "customer": card["customerId"], "payment_method": card["paymentMethodId"],
        "payment_method_types": ["card"], "confirm": True,
        "metadata": {"orderpayApp": app.codename, "orderpayObject": app.name, "orderId": order["id"], "orderpayAttempt": "1"},
    })
    assert second.status == "succeeded"
    webhooks_settled(store, second.id)

    refunds = stripe_api(store).v1.refunds.list(params={"payment_intent": second.id}).data
    assert [(r.amount, r.reason, r.status) for r in refunds] == [(2500, "duplicate", "succeeded")]
    assert stripe_api(store).v1.refunds.list(params={"payment_intent": first}).data == [], "the paying charge stays"
    after = alice.order(order["id"])
    assert after["_paymentConfirmation"] == "paid" and alice.payment_record(order["id"])["paymentId"] == first
    table = store.runtime.payments.outbox
    [event] = outbox(store, table.c.topic == app.topic("autorefunded"))
    payload = json.loads(event["payload"]) if isinstance(event["payload"], str) else event["payload"]
    assert (payload["paymentId"], payload["refundId"], payload["reason"]) == (second.id, refunds[0].id, "order_already_paid")

    # Stripe delivering the event again refunds nothing more.
    succeeded = stripe_event(store, second.id, "payment_intent.succeeded")
    body = event_bytes({**succeeded, "id": f"evt_again_{uuid.uuid4().hex[:12]}"})
    assert post_webhook(store, body, path=WEBHOOK).status_code == 200
    assert len(stripe_api(store).v1.refunds.list(params={"payment_intent": second.id}).data) == 1
    assert len(outbox(store, table.c.topic == app.topic("autorefunded"))) == 1


def test_a_succeeded_intent_for_other_terms_never_marks_the_order_paid_and_is_refunded(
        store: LiveServer, alice: Buyer, app: OrderApp) -> None:
    """An intent carrying the order's metadata but not its attempt's amount (someone else's call, a
    tampered integration) succeeds at Stripe: the webhook must not mark the order paid for it."""
    card = alice.save_card(THREE_DS)
    order = alice.create_order(totalAmount=2500)
    started = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
    assert started["paymentStatus"] == "requires_action"

    visa = alice.save_card(VISA)
    other = stripe_api(store).v1.payment_intents.create(params={
        "amount": 100, "currency": "usd", "customer": visa["customerId"], "payment_method": visa["paymentMethodId"],
        "payment_method_types": ["card"], "confirm": True,
        "metadata": {"orderpayApp": app.codename, "orderpayObject": app.name, "orderId": order["id"], "orderpayAttempt": "1"},
    })
    assert other.status == "succeeded"
    webhooks_settled(store, other.id)

    assert alice.order(order["id"])["_paymentConfirmation"] != "paid"
    assert alice.payment_record(order["id"])["paymentId"] == started["paymentId"]
    refunds = stripe_api(store).v1.refunds.list(params={"payment_intent": other.id}).data
    assert [(r.amount, r.status) for r in refunds] == [(100, "succeeded")]
    table = store.runtime.payments.outbox
    [event] = outbox(store, table.c.topic == app.topic("autorefunded"), table.c.key == order["id"])
    assert event["payload"]["reason"] == "terms_mismatch"
