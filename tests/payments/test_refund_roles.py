"""`refundRoles`: the spec names who besides superAdmin may refund — here a `merchant` role on the
store's orders (whose spec also maps `paymentResultRefunded`). Such a person refunds any buyer's order and reads its audit trail; a role the spec
does not name is refused like a buyer."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from payment_core.identity import Session
from payment_core.spec.loader import resolve_spec_path
from tests.payments.helpers import Buyer, ok, order_app, payment_server
from tests.support import LiveServer

APP = order_app("store")


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    spec = yaml.safe_load(resolve_spec_path("store").read_text())
    order = spec["services"][0]["dataObjects"][0]
    order["stripeOrder"]["configuration"]["refundRoles"] = ["merchant"]
    # ...and the order's status once fully refunded (the enum gains the value).
    order["fields"]["status"]["values"].append("refunded")
    order["stripeOrder"]["configuration"]["mapPaymentResultToOrderStatus"]["paymentResultRefunded"] = '"refunded"'
    path = Path(tmp_path_factory.mktemp("spec")) / "store-with-merchants.yaml"
    path.write_text(yaml.safe_dump(spec))
    yield from payment_server(request, tmp_path_factory, backend, str(path))


def client_with_role(server: LiveServer, role: str) -> httpx.Client:
    person = Session(user_id=str(uuid.uuid4()), email=f"{role}@shop.example", full_name=role.title(), roles=(role,))
    assert server.runtime.issuer is not None
    token = server.runtime.issuer.issue(person)
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_role_the_spec_names_refunds_and_reads_the_trail_another_role_cannot(server: LiveServer) -> None:
    alice = Buyer(server, "alice", APP)
    card = alice.save_card()
    order = alice.create_order()
    ok(alice.pay(order["id"], card["paymentMethodId"]))
    refund_path = f"{APP.prefix}/v1/refund{APP.name}payment/{order['id']}"

    with client_with_role(server, "support") as support:
        assert support.post(refund_path, json={"amount": 100}).status_code == 403
    with client_with_role(server, "merchant") as merchant:
        made = ok(merchant.post(refund_path, json={"amount": 100}, headers={"Idempotency-Key": "m-1"}))
        trail = ok(merchant.get(f"{APP.prefix}/v1/{APP.name}paymentaudit/{order['id']}"))
    assert made["refund"]["amount"] == 100 and made[APP.record_name]["amountRefunded"] == 100
    assert [e["kind"] for e in trail[f"sys_{APP.name}PaymentAudit"]][-1] == "refunded"
    assert alice.order(order["id"])["status"] == APP.mapped["success"]  # partly refunded: still paid

    with client_with_role(server, "merchant") as merchant:
        rest = ok(merchant.post(refund_path, json={}, headers={"Idempotency-Key": "m-2"}))
    assert rest["refund"]["amount"] == 2400
    # Fully refunded: the spec's paymentResultRefunded; `_paymentConfirmation` keeps the seeds' `paid`.
    assert rest[APP.name]["status"] == "refunded" and rest[APP.name]["_paymentConfirmation"] == "paid"
    assert alice.order(order["id"])["status"] == "refunded"
    alice.close()
