"""Refunds are made by people — an administrator through the REST API — never by a buyer or a
model; they are partial or full, never more than was captured, once per request however often
it is sent; and refunds made in Stripe's dashboard show up on the order by themselves (webhook)
or on the next refresh. Stripe is the offline sandbox, over HTTP, with its real webhooks."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from payment_core.payments.disputes import apply_dispute
from tests.payments.helpers import (
    DISPUTED,
    Buyer,
    OrderApp,
    eventually,
    ok,
    on_server,
    outbox,
    stripe_api,
    webhooks_held,
)
from tests.support import LiveServer


def paid_order(buyer: Buyer) -> tuple[dict[str, Any], str]:
    """One of the buyer's orders, paid with a saved Visa; returns (order, payment intent id)."""
    card = buyer.save_card()
    order = buyer.create_order()
    result = ok(buyer.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
    assert result["statusLiteral"] == "success", result
    return order, result["paymentId"]


def refund(http: httpx.Client, app: OrderApp, order_id: str, body: dict[str, Any] | None = None,
           key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return http.post(f"{app.prefix}/v1/refund{app.name.lower()}payment/{order_id}", json=body, headers=headers)


def stripe_refunds(server: LiveServer, intent_id: str) -> list[dict[str, Any]]:
    return [r.to_dict() for r in stripe_api(server).v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})]


def dashboard(server: LiveServer, path: str, params: dict[str, Any]) -> dict[str, Any]:
    """What a person does in Stripe's dashboard, out of orderpay's sight (the sandbox's admin API)."""
    setup = server.runtime.stripe
    answer = httpx.post(f"{setup.api_base}{path}", data=params, headers={"Authorization": f"Bearer {setup.secret_key}"},
                        timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def refunded_events(server: LiveServer, app: OrderApp, order_id: str) -> list[dict[str, Any]]:
    table = server.runtime.payments.outbox
    return outbox(server, table.c.key == order_id, table.c.topic == app.topic("refunded"))


def test_an_administrator_refunds_a_paid_order_in_full(server: LiveServer, app: OrderApp, alice: Buyer, admin: Buyer) -> None:
    order, intent_id = paid_order(alice)

    body = ok(refund(admin.http, app, order["id"], {"reason": "requested_by_customer"}, key="full-1"))

    assert body["status"] == "OK" and body["dataName"] == app.name
    assert body["refund"]["amount"] == 2500 and body["refund"]["status"] == "succeeded"
    record = body[app.record_name]
    assert record["amountRefunded"] == 2500 and [r["refundId"] for r in record["refunds"]] == [body["refund"]["refundId"]]
    # `_paymentConfirmation` keeps the seeds' values: the order was paid, and stays so.
    assert alice.order(order["id"])["_paymentConfirmation"] == "paid"
    assert alice.payment_record(order["id"])["amountRefunded"] == 2500
    assert [r["amount"] for r in stripe_refunds(server, intent_id)] == [2500]
    event = refunded_events(server, app, order["id"])[-1]["payload"]
    assert event["fullyRefunded"] is True and event["amountRefunded"] == 25
    # Nothing is left to refund.
    again = refund(admin.http, app, order["id"], key="full-2")
    assert again.status_code == 409 and again.json()["result"] == "ERR"
    assert len(stripe_refunds(server, intent_id)) == 1


def test_partial_refunds_never_add_up_to_more_than_was_captured(server: LiveServer, app: OrderApp, alice: Buyer,
                                                                 admin: Buyer) -> None:
    order, intent_id = paid_order(alice)

    first = ok(refund(admin.http, app, order["id"], {"amount": 1000, "reason": "one mug arrived broken"}, key="p-1"))
    assert first["refund"]["amount"] == 1000 and first["refund"]["note"] == "one mug arrived broken"
    assert first[app.record_name]["amountRefunded"] == 1000

    too_much = refund(admin.http, app, order["id"], {"amount": 1600}, key="p-2")
    assert too_much.status_code == 409, too_much.text
    assert "15" in too_much.json()["message"]  # what can still be refunded: 15 USD
    assert [r["amount"] for r in stripe_refunds(server, intent_id)] == [1000]

    rest = ok(refund(admin.http, app, order["id"], key="p-3"))  # no amount: what is left
    assert rest["refund"]["amount"] == 1500
    assert alice.payment_record(order["id"])["amountRefunded"] == 2500
    assert sorted(r["amount"] for r in stripe_refunds(server, intent_id)) == [1000, 1500]

    bad = refund(admin.http, app, order["id"], {"amount": -5}, key="p-4")
    assert bad.status_code in (400, 409) and bad.json()["result"] == "ERR"


def test_a_refund_sent_again_with_the_same_key_is_one_refund(server: LiveServer, app: OrderApp, alice: Buyer,
                                                             admin: Buyer) -> None:
    order, intent_id = paid_order(alice)

    first = ok(refund(admin.http, app, order["id"], {"amount": 500}, key="same-key"))
    second = ok(refund(admin.http, app, order["id"], {"amount": 500}, key="same-key"))
    by_body = ok(refund(admin.http, app, order["id"], {"amount": 500, "requestId": "same-key"}))

    assert first["refund"]["refundId"] == second["refund"]["refundId"] == by_body["refund"]["refundId"]
    assert [r["amount"] for r in stripe_refunds(server, intent_id)] == [500]
    assert alice.payment_record(order["id"])["amountRefunded"] == 500


def test_buyers_cannot_refund_not_even_their_own_order(server: LiveServer, app: OrderApp, alice: Buyer, bob: Buyer) -> None:
    order, intent_id = paid_order(alice)

    for who in (alice, bob):
        refused = refund(who.http, app, order["id"], {"amount": 100}, key=f"buyer-{who.username}")
        assert refused.status_code == 403, refused.text
        assert refused.json()["result"] == "ERR"
    assert stripe_refunds(server, intent_id) == []
    assert alice.payment_record(order["id"]).get("amountRefunded") in (None, 0)


def test_a_dashboard_refund_shows_up_by_webhook(server: LiveServer, app: OrderApp, alice: Buyer) -> None:
    order, intent_id = paid_order(alice)

    # The merchant refunds in Stripe's dashboard: orderpay is not asked, Stripe tells it.
    made = dashboard(server, "/_sandbox/refunds", {"payment_intent": intent_id, "amount": 700})

    record = eventually(lambda: (r := alice.payment_record(order["id"]))["amountRefunded"] == 700 and r,
                        message="the dashboard refund never reached the payment record")
    assert record["refunds"][0]["refundId"] == made["id"]
    assert refunded_events(server, app, order["id"])[-1]["payload"]["via"] == "webhook"


def test_a_dashboard_refund_shows_up_on_refresh_when_webhooks_do_not_arrive(server: LiveServer, app: OrderApp,
                                                                            alice: Buyer) -> None:
    order, intent_id = paid_order(alice)
    with webhooks_held(server):
        dashboard(server, "/_sandbox/refunds", {"payment_intent": intent_id})
        assert alice.payment_record(order["id"]).get("amountRefunded") in (None, 0)

        refreshed = ok(alice.refresh(order["id"]))

    assert refreshed[app.name]["_paymentConfirmation"] == "paid"
    assert alice.payment_record(order["id"])["amountRefunded"] == 2500
    assert refunded_events(server, app, order["id"])[-1]["payload"]["via"] == "refresh"


def test_a_dispute_is_recorded_refunds_wait_while_it_is_open_and_its_close_is_recorded(
        server: LiveServer, app: OrderApp, alice: Buyer, admin: Buyer) -> None:
    server.sandbox.dispute_delay = 0.2  # the bank's chargeback, soon after the charge
    card = alice.save_card(DISPUTED)
    order = alice.create_order()
    result = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
    assert result["statusLiteral"] == "success"

    record = eventually(lambda: (r := alice.payment_record(order["id"])).get("dispute") and r,
                        message="the dispute never reached the payment record")
    dispute = record["dispute"]
    assert dispute["open"] is True and dispute["reason"] == "fraudulent" and dispute["amount"] == 2500
    table = server.runtime.payments.outbox
    published = outbox(server, table.c.key == order["id"], table.c.topic == app.topic("disputed"))
    assert published and published[0]["payload"]["dispute"]["status"] == dispute["status"]
    assert alice.order(order["id"])["_paymentConfirmation"] == "paid"

    refused = refund(admin.http, app, order["id"], {"amount": 100}, key="during-dispute")
    assert refused.status_code == 409 and "disputed" in refused.json()["message"]
    assert stripe_refunds(server, result["paymentId"]) == []

    dashboard(server, f"/_sandbox/disputes/{dispute['disputeId']}/close", {"status": "won"})
    closed = eventually(lambda: (r := alice.payment_record(order["id"]))["dispute"]["open"] is False and r,
                        message="the dispute's close never reached the payment record")
    assert closed["dispute"]["status"] == "won"
    kinds = [e["kind"] for e in ok(alice.http.get(f"{app.prefix}/v1/{app.name.lower()}paymentaudit/{order['id']}"))
             [f"sys_{app.name}PaymentAudit"]]
    assert "disputed" in kinds and kinds[-1] == "dispute_closed"
    # Closed: refunds are the merchant's to make again.
    assert ok(refund(admin.http, app, order["id"], {"amount": 100}, key="after-dispute"))["refund"]["amount"] == 100


def test_refund_syncs_and_disputes_lock_the_payment_record_before_the_order(
        server: LiveServer, app: OrderApp, alice: Buyer, backend: str) -> None:
    """Transitions lock the payment record, then the order. A refund sync or a dispute that locked
    them the other way round could deadlock with a transition on PostgreSQL: while one waits for the
    payment record, it holds no lock on the order."""
    if backend != "postgres":
        pytest.skip("row locks are PostgreSQL's: SQLite has one write lock for the whole database")
    order, intent_id = paid_order(alice)
    runtime = server.runtime
    payments = runtime.payments.order_payments(app.name)
    record = alice.payment_record(order["id"])
    orders = payments.store.table

    async def while_the_record_is_locked(step: Callable[[], Awaitable[Any]]) -> Any:
        async with runtime.engine.connect() as holder:
            async with holder.begin():
                await payments.records.lock_by_id(record["id"], conn=holder)
                task = asyncio.create_task(step())
                deadline = time.monotonic() + 20
                while True:  # until the step waits for the record's lock
                    async with runtime.engine.connect() as watch:
                        waiting = (await watch.execute(text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND datname = current_database()"))).scalar_one()
                    if waiting or task.done() or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                assert waiting and not task.done(), "the step never waited for the payment record"
                async with runtime.engine.connect() as probe, probe.begin():
                    # Raises at once (lock not available) if the waiting step holds the order.
                    await probe.execute(select(orders.c.id).where(orders.c.id == order["id"]).with_for_update(nowait=True))
        return await task

    dashboard(server, "/v1/refunds", {"payment_intent": intent_id, "amount": 500})
    synced_order, synced = on_server(server, lambda: while_the_record_is_locked(
        lambda: runtime.payments.after_sale.refunds.sync(payments, intent_id, via="refresh")))
    assert synced["amountRefunded"] == 500 and synced_order["id"] == order["id"]

    dispute = {"id": "dp_lock_order", "status": "needs_response", "amount": 2000, "currency": "usd",
               "reason": "fraudulent", "payment_intent": intent_id}
    outcome = on_server(server, lambda: while_the_record_is_locked(
        lambda: apply_dispute(runtime.payments.flow, payments, record, dispute, "charge.dispute.created")))
    assert outcome == "processed"
    after = alice.payment_record(order["id"])
    assert after["amountRefunded"] == 500
    assert after["dispute"] == {"disputeId": "dp_lock_order", "status": "needs_response", "amount": 2000,
                                "currency": "USD", "reason": "fraudulent", "open": True}
