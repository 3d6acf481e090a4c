"""Seed 004's read and record APIs of the payment objects: a buyer reaches their own payment
records, customer and cards; an administrator reaches everyone's; clients may only ever set
a record's orderId and redirectUrl — its payment state is the flow's alone."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.payments.helpers import ENVELOPE_KEYS, VISA, Buyer, OrderApp, err, ok
from tests.support import LiveServer


@pytest.fixture(scope="module")
def paid_orders(store: LiveServer, store_app: OrderApp) -> dict[str, dict[str, Any]]:
    """alice and bob have each paid one order."""
    paid: dict[str, dict[str, Any]] = {}
    for name in ("alice", "bob"):
        buyer = Buyer(store, name, store_app)
        try:
            card = buyer.save_card(VISA)
            order = buyer.create_order()
            result = ok(buyer.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
            paid[name] = {"order": order, "result": result, "card": card, "record": buyer.payment_record(order["id"])}
        finally:
            buyer.close()
    return paid


def envelope(response: Any, data_name: str, action: str, status: int = 200) -> dict[str, Any]:
    body = ok(response, status)
    assert ENVELOPE_KEYS <= body.keys()
    assert (body["status"], body["dataName"], body["action"]) == ("OK", data_name, action)
    return body


def test_a_buyer_reads_their_payment_record_by_id_order_and_stripe_payment(
        store_app: OrderApp, alice: Buyer, bob: Buyer, admin: Buyer, paid_orders: dict[str, Any]) -> None:
    mine = paid_orders["alice"]
    record_id, order_id, payment_id = mine["record"]["id"], mine["order"]["id"], mine["result"]["paymentId"]
    routes = [f"{store_app.records}/{record_id}",
              f"{store_app.prefix}/v1/orderpaymentbyorderid/{order_id}",
              f"{store_app.prefix}/v1/orderpaymentbypaymentid/{payment_id}"]
    for route in routes:
        record = envelope(alice.http.get(route), store_app.record_name, "get")[store_app.record_name]
        assert (record["id"], record["orderId"], record["paymentId"]) == (record_id, order_id, payment_id)
        assert (record["ownerId"], record["paymentStatus"], record["statusLiteral"]) == (alice.user_id, "succeeded", "success")
        err(bob.http.get(route), 404)  # someone else's record answers as a missing one
        assert envelope(admin.http.get(route), store_app.record_name, "get")[store_app.record_name]["id"] == record_id
    err(alice.http.get(f"{store_app.records}/{uuid.uuid4()}"), 404)
    err(alice.http.get(f"{store_app.prefix}/v1/orderpaymentbypaymentid/pi_unknown"), 404)
    err(alice.http.get(f"{store_app.records}/not-a-uuid"), 400)


def test_the_record_list_holds_only_the_callers_own(store_app: OrderApp, alice: Buyer, bob: Buyer, admin: Buyer,
                                                    paid_orders: dict[str, Any]) -> None:
    listed = envelope(alice.http.get(store_app.records), f"{store_app.record_name}s", "list")
    records = listed[f"{store_app.record_name}s"]
    assert listed["rowCount"] == len(records)
    ids = {record["id"] for record in records}
    assert paid_orders["alice"]["record"]["id"] in ids and paid_orders["bob"]["record"]["id"] not in ids
    assert all(record["ownerId"] == alice.user_id for record in records)
    everyone = {record["id"] for record in admin.http.get(store_app.records).json()[f"{store_app.record_name}s"]}
    assert {paid_orders["alice"]["record"]["id"], paid_orders["bob"]["record"]["id"]} <= everyone
    page = alice.http.get(store_app.records, params={"pageRowCount": 1}).json()
    assert page["rowCount"] == 1


def test_a_buyer_creates_updates_and_deletes_a_payment_record_within_the_rules(
        store_app: OrderApp, alice: Buyer, bob: Buyer) -> None:
    order = alice.create_order()
    for forbidden in ({"orderId": order["id"], "paymentStatus": "succeeded"},
                      {"orderId": order["id"], "statusLiteral": "success"},
                      {"orderId": order["id"], "paymentId": "pi_forged"},
                      {"orderId": order["id"], "ownerId": bob.user_id},
                      {"redirectUrl": "https://shop.example/done"},  # orderId is required
                      {"orderId": order["id"], "redirectUrl": "javascript:alert(1)"}):
        err(alice.http.post(store_app.records, json=forbidden), 400)
    err(bob.http.post(store_app.records, json={"orderId": order["id"]}), 404)  # not bob's order
    err(alice.http.post(store_app.records, json={"orderId": str(uuid.uuid4())}), 404)

    created = envelope(alice.http.post(store_app.records, json={"orderId": order["id"], "redirectUrl": "https://shop.example/r"}),
                       store_app.record_name, "create", 201)
    assert created["statusCode"] == "201"
    record = created[store_app.record_name]
    assert (record["orderId"], record["ownerId"], record["redirectUrl"]) == (order["id"], alice.user_id, "https://shop.example/r")
    assert (record["paymentStatus"], record["statusLiteral"], record["paymentId"]) == ("requires_payment_method", "started", None)
    err(alice.http.post(store_app.records, json={"orderId": order["id"]}), 409)  # one record per order

    route = f"{store_app.records}/{record['id']}"
    updated = envelope(alice.http.patch(route, json={"redirectUrl": "https://shop.example/other"}), store_app.record_name, "update")
    assert updated[store_app.record_name]["redirectUrl"] == "https://shop.example/other"
    for forbidden in ({"paymentStatus": "succeeded"}, {"statusLiteral": "success"}, {"orderId": str(uuid.uuid4())},
                      {"paymentId": "pi_forged"}, {"redirectUrl": "ftp://x"}):
        err(alice.http.patch(route, json=forbidden), 400)
    err(bob.http.patch(route, json={"redirectUrl": "https://evil.example/"}), 404)
    err(bob.http.delete(route), 404)
    unchanged = alice.payment_record(order["id"])
    assert (unchanged["paymentStatus"], unchanged["statusLiteral"], unchanged["redirectUrl"]) == (
        "requires_payment_method", "started", "https://shop.example/other")
    assert alice.order(order["id"]) == order, "a record written by a client never touches the order"

    deleted = envelope(alice.http.delete(route), store_app.record_name, "delete")
    assert deleted[store_app.record_name]["isActive"] is False
    err(alice.http.get(route), 404)


def test_an_order_whose_payment_record_was_deleted_can_still_be_paid(store: LiveServer, store_app: OrderApp, alice: Buyer) -> None:
    card = alice.save_card(VISA)
    order = alice.create_order()
    record = ok(alice.http.post(store_app.records, json={"orderId": order["id"]}), 201)[store_app.record_name]
    ok(alice.http.delete(f"{store_app.records}/{record['id']}"))

    paid = ok(alice.pay(order["id"], card["paymentMethodId"]))
    assert paid["order"]["_paymentConfirmation"] == "paid"
    assert alice.payment_record(order["id"])["statusLiteral"] == "success"


def test_records_routes_need_a_token(store: LiveServer, store_app: OrderApp, paid_orders: dict[str, Any]) -> None:
    with store.client() as anonymous:
        for method, route in (("GET", store_app.records), ("POST", store_app.records),
                              ("GET", f"{store_app.records}/{paid_orders['alice']['record']['id']}"),
                              ("GET", f"{store_app.prefix}/v1/paymentcustomers"),
                              ("GET", f"{store_app.prefix}/v1/paymentcustomermethods"),
                              ("GET", f"{store_app.prefix}/payment-methods/list"),
                              ("POST", f"{store_app.prefix}/payment-methods/add")):
            err(anonymous.request(method, route, json={}), 401)


def test_payment_customers_are_the_owners_or_an_administrators(
        store_app: OrderApp, alice: Buyer, bob: Buyer, admin: Buyer, paid_orders: dict[str, Any]) -> None:
    mine = envelope(alice.http.get(f"{store_app.prefix}/v1/paymentcustomers/{alice.user_id}"), "sys_paymentCustomer", "get")
    customer = mine["sys_paymentCustomer"]
    assert customer["userId"] == alice.user_id and customer["platform"] == "stripe"
    assert customer["customerId"] == paid_orders["alice"]["card"]["customerId"]

    err(bob.http.get(f"{store_app.prefix}/v1/paymentcustomers/{alice.user_id}"), 404)
    as_admin = envelope(admin.http.get(f"{store_app.prefix}/v1/paymentcustomers/{alice.user_id}"), "sys_paymentCustomer", "get")
    assert as_admin["sys_paymentCustomer"]["customerId"] == customer["customerId"]

    everyone = envelope(admin.http.get(f"{store_app.prefix}/v1/paymentcustomers"), "sys_paymentCustomers", "list")
    assert {alice.user_id, bob.user_id} <= {c["userId"] for c in everyone["sys_paymentCustomers"]}
    err(alice.http.get(f"{store_app.prefix}/v1/paymentcustomers"), 403)
    err(alice.http.get(f"{store_app.prefix}/v1/paymentcustomers/{uuid.uuid4()}"), 404)


def test_payment_customer_methods_are_the_callers_saved_cards(store_app: OrderApp, alice: Buyer, bob: Buyer,
                                                              paid_orders: dict[str, Any]) -> None:
    body = envelope(alice.http.get(f"{store_app.prefix}/v1/paymentcustomermethods"), "sys_paymentMethods", "list")
    methods = body["sys_paymentMethods"]
    assert body["rowCount"] == len(methods)
    assert sorted(m["paymentMethodId"] for m in methods) == sorted(c["paymentMethodId"] for c in alice.cards())
    assert paid_orders["alice"]["card"]["paymentMethodId"] in [m["paymentMethodId"] for m in methods]
    assert paid_orders["bob"]["card"]["paymentMethodId"] not in [m["paymentMethodId"] for m in methods]
    assert all(m["userId"] == alice.user_id for m in methods)
