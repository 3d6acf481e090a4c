"""The hosted pay page of an MCP `payUrl` and the result page, in Chromium and over HTTP:
a buyer with no session in this browser pays with a card typed on the page (never saved,
no saved card shown), 3-D Secure returns to the result page, the used link opens no second
payment, saved cards appear only after signing in as the link's user, and a bad link opens
nothing."""
from __future__ import annotations

from typing import Any

import httpx

from tests.support import LiveServer
from tests.web.browser import CARD_3DS, CARD_4242, pay_now, payment_card, type_card, wait_paid
from tests.web.support import new_unpaid_order, order_object, pay_url, read_order


def tampered(url: str) -> str:
    """The link with its signed payload's first character changed (not the tag's last one: base64
    ignores that character's low bits, so changing it may change nothing)."""
    base, token = url.rsplit("/", 1)
    return f"{base}/{'B' if token[0] == 'A' else 'A'}{token[1:]}"


def saved_cards(server: LiveServer, username: str) -> list[dict[str, Any]]:
    service, _ = order_object(server)
    with server.client(username) as client:
        return client.get(f"{service.route_prefix}/payment-methods/list").json()


def save_card(server: LiveServer, username: str) -> dict[str, Any]:
    service, _ = order_object(server)
    with server.client(username) as client:
        answer = client.post(f"{service.route_prefix}/payment-methods/add", json={"paymentMethodId": "pm_card_visa"})
        assert answer.status_code == 200, answer.text
        return answer.json()


def test_without_a_session_the_pay_page_pays_with_a_card_typed_on_it(page: Any, airbnb: LiveServer, shot: Any) -> None:
    save_card(airbnb, "alice")
    cards_before = saved_cards(airbnb, "alice")
    order = new_unpaid_order(airbnb, "alice")
    url = pay_url(airbnb, "alice", order["id"])
    page.goto(url)  # a fresh browser: no sign-in, the link is the authority
    card = payment_card(page)
    card.locator("section.typed-card").wait_for()  # opened at once on the pay page
    assert card.get_attribute("data-order-id") == order["id"]
    assert "$" in card.locator(".amount").inner_text()
    assert card.locator("ul.card-list, details.add-card, label.card-choice").count() == 0  # no saved card shown
    assert "4242" not in card.inner_text()
    type_card(card, CARD_4242)
    shot(page, "typed")
    pay_now(card)
    wait_paid(card)
    shot(page, "paid")
    assert read_order(airbnb, order["id"])["_paymentConfirmation"] == "paid"
    assert saved_cards(airbnb, "alice") == cards_before  # the typed card was not saved

    again = page.goto(url)  # the link has done its one job
    assert again.status == 409
    page.get_by_text("already been used to pay").wait_for()


def test_3d_secure_from_the_pay_page_returns_to_the_result_page(page: Any, airbnb: LiveServer, shot: Any) -> None:
    order = new_unpaid_order(airbnb, "alice")
    page.goto(pay_url(airbnb, "alice", order["id"]))
    card = payment_card(page)
    type_card(card, CARD_3DS)
    pay_now(card)
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url("**/pay/result?*")
    wait_paid(payment_card(page))
    assert "payment_intent_client_secret" not in page.url
    shot(page, "result")
    assert read_order(airbnb, order["id"])["_paymentConfirmation"] == "paid"


def sign_in_on_the_pay_page(page: Any, username: str) -> None:
    page.get_by_text("Pay with a saved card").click()
    page.get_by_label("User").fill(username)
    page.get_by_label("Password").fill(f"{username}-pass")
    page.get_by_role("button", name="Sign in").click()


def test_saved_cards_appear_only_after_signing_in_as_the_links_user(page: Any, context: Any, airbnb: LiveServer,
                                                                    shot: Any) -> None:
    save_card(airbnb, "alice")
    order = new_unpaid_order(airbnb, "alice")
    url = pay_url(airbnb, "alice", order["id"])

    page.goto(url)
    payment_card(page).locator("section.typed-card").wait_for()
    sign_in_on_the_pay_page(page, "bob")  # someone else holding alice's link
    page.get_by_text("belongs to another account").wait_for()
    card = payment_card(page)
    card.locator("section.typed-card").wait_for()
    assert card.locator("label.card-choice").count() == 0

    sign_in_on_the_pay_page(page, "alice")
    card = payment_card(page)
    card.get_by_text("Visa ••4242").first.wait_for()
    page.get_by_text("Signed in as").wait_for()
    shot(page, "saved-cards")
    pay_now(card)  # with the first saved card, chosen by default
    wait_paid(card)
    assert read_order(airbnb, order["id"])["_paymentConfirmation"] == "paid"


def test_a_tampered_link_shows_an_error_page_and_opens_no_api(page: Any, airbnb: LiveServer) -> None:
    order = new_unpaid_order(airbnb, "alice")
    bad = tampered(pay_url(airbnb, "alice", order["id"]))
    response = page.goto(bad)
    assert response.status == 401
    page.get_by_text("This pay link is not valid.").wait_for()
    token = bad.rsplit("/", 1)[1]
    for method, path in (("GET", "order"), ("GET", "cards"), ("PATCH", "refresh"), ("PATCH", "start")):
        answer = httpx.request(method, f"{airbnb.base_url}/pay/api/{token}/{path}", json={})
        assert answer.status_code == 401
        body = answer.json()
        assert body["result"] == "ERR" and body["status"] == 401 and body["errCode"] == "pay_link_tampered"


def test_the_link_reaches_its_own_order_only_and_sends_3ds_back_home(airbnb: LiveServer) -> None:
    mine = new_unpaid_order(airbnb, "alice")
    url = pay_url(airbnb, "alice", mine["id"])
    api = url.replace("/pay/", "/pay/api/")
    seen = httpx.get(f"{api}/order").json()
    assert seen["order"]["id"] == mine["id"]
    assert set(seen["order"]) == {"id", "_paymentConfirmation", "bookingStatus"}  # no more than the page shows
    assert seen["currency"] == "USD" and seen["amount"] == mine["totalPrice"]
    with airbnb.client("alice") as alice:
        card = alice.post("/bookingmanagement-api/payment-methods/add", json={"paymentMethodId": "pm_card_visa"}).json()
    elsewhere = {"paymentUserParams": {"paymentMethodId": card["paymentMethodId"],
                                       "return_url": "https://evil.example/steal"}}
    refused = httpx.patch(f"{api}/start", json=elsewhere)
    assert refused.status_code == 400 and "return_url" in refused.json()["message"]
    assert read_order(airbnb, mine["id"])["_paymentConfirmation"] == "pending"


def test_pages_send_a_content_security_policy_and_no_secrets(airbnb: LiveServer) -> None:
    order = new_unpaid_order(airbnb, "alice")
    url = pay_url(airbnb, "alice", order["id"])
    for address in (airbnb.base_url + "/", url, airbnb.base_url + "/pay/result", airbnb.base_url + "/ui/js/chat.js"):
        response = httpx.get(address)
        assert response.status_code == 200, address
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        for secret in ("sk_test", "sk_live", "whsec_", airbnb.runtime.stripe.secret_key):
            assert secret not in response.text, (address, secret)
    assert httpx.get(url).headers["referrer-policy"] == "no-referrer"
    assert httpx.get(airbnb.base_url + "/ui/../web/payapi.py").status_code == 404
