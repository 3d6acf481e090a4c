"""A pay link pays one order, once, for one amount, with a card typed on the page — over real
HTTP against the whole app and the embedded Stripe sandbox, on SQLite and PostgreSQL.

Without the buyer's session the link's API lists, adds, deletes and charges no saved card; a
card created in the browser (Stripe.js's createPaymentMethod, here the official SDK with the
publishable key) pays the order and is not saved. The link is refused once it paid, once its
order is paid, once the order's amount changed, when expired and when tampered with — by every
replica, since its one use is kept in the database. Saved cards need the buyer to sign in as
the link's user; anyone else is refused."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orderpay import create_server
from payment_core.paylinks import issue_pay_token, pay_link_secret
from tests.payments.helpers import Buyer, err, intents_of, new_card, ok, order_app, payment_server, stripe_api
from tests.support import LiveServer
from tests.web.support import pay_url

APP = order_app("store")
SECRET = "pay-link-secret-shared-by-replicas-0123456789"
RETURN_HOME = "/pay/result"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    yield from payment_server(request, tmp_path_factory, backend, "store", factory=create_server,
                              pay_link_secret=SECRET)


@pytest.fixture
def alice(server: LiveServer) -> Iterator[Buyer]:
    buyer = Buyer(server, "alice", APP)
    yield buyer
    buyer.close()


def link_api(url: str) -> str:
    return url.replace("/pay/", "/pay/api/", 1)


def start(server: LiveServer, url: str, payment_method_id: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"paymentMethodId": payment_method_id, "return_url": server.base_url + RETURN_HOME}
    return httpx.patch(f"{link_api(url)}/start", json={"paymentUserParams": params}, headers=headers, timeout=30)


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body = err(response, status)
    assert body["errCode"] == code, body
    return body


def page_refused(url: str, status: int, words: str) -> None:
    """The hosted page itself: a readable error page, not the pay form."""
    page = httpx.get(url, timeout=30)
    assert page.status_code == status, page.text
    assert words in page.text and "charged nothing" in page.text and "paypage.js" not in page.text


def nothing_charged(server: LiveServer, buyer: Buyer, order_id: str) -> None:
    assert intents_of(server, order_id) == []
    assert buyer.order(order_id)["_paymentConfirmation"] == "pending"


def test_without_a_session_the_link_shows_adds_and_deletes_no_saved_card(server: LiveServer, alice: Buyer) -> None:
    saved = alice.save_card()
    order = alice.create_order()
    url = pay_url(server, "alice", order["id"])
    api = link_api(url)

    details = ok(httpx.get(f"{api}/order"))
    assert details["savedCards"] is False and details["amount"] == 25 and details["currency"] == "USD"
    listed = refused(httpx.get(f"{api}/cards"), 401, "pay_link_sign_in_required")
    assert "sign in" in listed["message"] and saved["paymentMethodId"] not in str(listed)
    refused(httpx.post(f"{api}/cards/add", json={"paymentMethodId": new_card(server)}), 401, "pay_link_sign_in_required")
    refused(httpx.delete(f"{api}/cards/{saved['paymentMethodId']}"), 401, "pay_link_sign_in_required")
    assert [card["paymentMethodId"] for card in alice.cards()] == [saved["paymentMethodId"]]
    nothing_charged(server, alice, order["id"])


def test_without_a_session_no_saved_card_is_charged(server: LiveServer, alice: Buyer) -> None:
    saved = alice.save_card()
    bob = Buyer(server, "bob", APP)
    bobs = bob.save_card()
    bob.close()
    order = alice.create_order()
    url = pay_url(server, "alice", order["id"])

    for payment_method_id in (saved["paymentMethodId"], bobs["paymentMethodId"]):
        body = refused(start(server, url, payment_method_id), 404, "not_found")
        assert "only a card entered on this page" in body["message"]
    # a card attached to alice's customer behind orderpay's back is refused as well
    attached = new_card(server)
    stripe_api(server).v1.payment_methods.attach(attached, params={"customer": saved["customerId"]})
    refused(start(server, url, attached), 404, "not_found")
    nothing_charged(server, alice, order["id"])


def test_a_typed_card_pays_the_order_once_and_is_not_saved(server: LiveServer, alice: Buyer) -> None:
    cards_before = alice.cards()
    order = alice.create_order()
    url = pay_url(server, "alice", order["id"])
    typed = new_card(server)

    answer = ok(start(server, url, typed))
    assert answer["order"]["_paymentConfirmation"] == "paid" and answer["paymentResult"]["paymentStatus"] == "succeeded"
    assert alice.order(order["id"])["_paymentConfirmation"] == "paid"
    [intent] = intents_of(server, order["id"])
    assert (intent["status"], intent["amount"], intent["currency"], intent["payment_method"]) == \
        ("succeeded", 2500, "usd", typed)
    assert intent.get("setup_future_usage") is None
    assert stripe_api(server).v1.payment_methods.retrieve(typed).customer is None  # not saved at Stripe
    assert alice.cards() == cards_before  # nor in orderpay

    again = refused(start(server, url, new_card(server)), 409, "pay_link_used")
    assert "already been used" in again["message"]
    page_refused(url, 409, "already been used to pay")
    assert len(intents_of(server, order["id"])) == 1  # charged once
    # the page may still show how it ended (the result page after 3-D Secure reads this)
    assert ok(httpx.get(f"{link_api(url)}/order"))["order"]["_paymentConfirmation"] == "paid"


def test_a_declined_typed_card_leaves_the_link_usable_with_another_card(server: LiveServer, alice: Buyer) -> None:
    order = alice.create_order()
    url = pay_url(server, "alice", order["id"])
    declined = ok(start(server, url, new_card(server, "4000000000000002")))
    assert declined["paymentResult"]["result"] == "ERR" and declined["order"]["_paymentConfirmation"] != "paid"
    assert ok(start(server, url, new_card(server)))["order"]["_paymentConfirmation"] == "paid"


def test_a_link_whose_order_was_paid_elsewhere_is_refused(server: LiveServer, alice: Buyer) -> None:
    order = alice.create_order()
    url = pay_url(server, "alice", order["id"])
    ok(alice.pay(order["id"], alice.save_card()["paymentMethodId"]))  # paid in the chat's payment card

    refused(start(server, url, new_card(server)), 409, "pay_link_paid")
    page_refused(url, 409, "already paid")
    assert len(intents_of(server, order["id"])) == 1


def test_after_the_amount_changed_the_link_is_refused(server: LiveServer, alice: Buyer) -> None:
    order = alice.create_order()
    url = pay_url(server, "alice", order["id"])  # issued for 25.00 USD
    ok(alice.http.patch(f"{APP.prefix}/v1/{APP.plural}/{order['id']}", json={"totalAmount": 77700}))

    body = refused(start(server, url, new_card(server)), 409, "pay_link_changed")
    assert "amount or currency changed" in body["message"]
    refused(httpx.get(f"{link_api(url)}/order"), 409, "pay_link_changed")
    page_refused(url, 409, "amount or currency changed")
    nothing_charged(server, alice, order["id"])
    # a new link is for the new amount
    fresh = pay_url(server, "alice", order["id"])
    assert ok(httpx.get(f"{link_api(fresh)}/order"))["amount"] == 777


def test_expired_and_tampered_links_are_refused(server: LiveServer, alice: Buyer) -> None:
    order = alice.create_order()
    secret = pay_link_secret(server.settings)
    expired = issue_pay_token(secret, user_id=alice.user_id, object_name=APP.name, order_id=order["id"],
                              amount_minor=2500, currency="USD", ttl_seconds=60, now=time.time() - 61)
    url = f"{server.base_url}/pay/{expired}"
    page_refused(url, 401, "expired")
    refused(start(server, url, new_card(server)), 401, "pay_link_expired")

    good = pay_url(server, "alice", order["id"])
    base, token = good.rsplit("/", 1)
    forged = f"{base}/{'B' if token[0] == 'A' else 'A'}{token[1:]}"
    page_refused(forged, 401, "not valid")
    refused(start(server, forged, new_card(server)), 401, "pay_link_tampered")
    nothing_charged(server, alice, order["id"])


def test_signed_in_as_the_links_user_the_buyer_sees_and_pays_with_saved_cards(server: LiveServer,
                                                                              alice: Buyer) -> None:
    saved = alice.save_card()
    order = alice.create_order()
    url = pay_url(server, "alice", order["id"])
    api = link_api(url)
    alices = {"Authorization": f"Bearer {server.token('alice')}"}
    bobs = {"Authorization": f"Bearer {server.token('bob')}"}

    assert ok(httpx.get(f"{api}/order", headers=alices))["savedCards"] is True
    assert saved["paymentMethodId"] in [card["paymentMethodId"] for card in ok(httpx.get(f"{api}/cards", headers=alices))]
    for response in (httpx.get(f"{api}/cards", headers=bobs), httpx.get(f"{api}/order", headers=bobs),
                     httpx.delete(f"{api}/cards/{saved['paymentMethodId']}", headers=bobs),
                     start(server, url, saved["paymentMethodId"], server.token("bob"))):
        body = refused(response, 403, "pay_link_other_user")
        assert saved["paymentMethodId"] not in str(body)
    refused(httpx.get(f"{api}/cards", headers={"Authorization": "Bearer not-a-token"}), 401, "unauthorized")
    nothing_charged(server, alice, order["id"])

    paid = ok(start(server, url, saved["paymentMethodId"], server.token("alice")))
    assert paid["order"]["_paymentConfirmation"] == "paid"


def test_every_replica_refuses_a_link_that_has_paid(server: LiveServer, alice: Buyer,
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    """A second server on the same database (another replica) knows the link was used."""
    order = alice.create_order()
    url = pay_url(server, "alice", order["id"])
    ok(start(server, url, new_card(server)))
    database = server.settings.resolved_database_url(server.runtime.app.codename)
    replica = LiveServer.start(server.settings.model_copy(update={
        "data_dir": tmp_path_factory.mktemp("replica"), "database_url": database}), create_server)
    try:
        elsewhere = url.replace(server.base_url, replica.base_url)
        refused(httpx.patch(f"{link_api(elsewhere)}/start", json={"paymentUserParams": {
            "paymentMethodId": "pm_card_visa"}}), 409, "pay_link_used")
        page_refused(elsewhere, 409, "already been used")
    finally:
        replica.stop()
    assert len(intents_of(server, order["id"])) == 1
