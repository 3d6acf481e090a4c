"""The refund request and the payments admin page in a real browser (Chromium): a buyer asks the
chat's assistant for a refund (its `requestRefund` tool records it, moving no money); an
administrator sees the request and the payments on the admin page,
refunds part of one with a click, and the page shows what Stripe refunded. A buyer opening the
page sees nothing of anyone's payments: the API behind it answers administrators only."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.payments.helpers import Buyer, ok, order_app, stripe_api
from tests.support import LiveServer
from tests.web.browser import ask, sign_in
from tests.web.conftest import serve

APP = order_app("store")


@pytest.fixture(scope="module")
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory, "store")


def sign_in_to_admin(page: Any, server: LiveServer, username: str) -> None:
    page.goto(server.base_url + "/admin")
    page.get_by_label("User").fill(username)
    page.get_by_label("Password").fill(f"{username}-pass")
    page.get_by_role("button", name="Sign in").click()


def test_a_buyer_asks_in_the_chat_and_an_administrator_refunds_part_of_the_order(
        store: LiveServer, page: Any, chromium: Any, shot: Any) -> None:
    alice = Buyer(store, "alice", APP)
    card = alice.save_card()
    order = alice.create_order()
    intent_id = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]["paymentId"]

    # The buyer asks the assistant in the chat; its requestRefund tool records the request.
    buyer_page = chromium.new_context(viewport={"width": 1100, "height": 800}).new_page()
    sign_in(buyer_page, store, "alice")
    answer = ask(buyer_page, "refund my latest order: one mug arrived broken")
    assert "asked the merchant" in answer.inner_text() and "No money has moved" in answer.inner_text()
    buyer_page.context.close()

    sign_in_to_admin(page, store, "admin")
    request_row = page.locator(f"#requests tr[data-order-id='{order['id']}']")
    request_row.wait_for()
    assert "one mug arrived broken" in request_row.inner_text() and "open" in request_row.inner_text()
    row = page.locator(f"#payments tr[data-order-id='{order['id']}']")
    assert "$25.00" in row.inner_text()

    row.get_by_label(f"Amount to refund of order {order['id']}").fill("10")
    row.get_by_label(f"Reason for refunding order {order['id']}").fill("broken mug")
    row.get_by_role("button", name="Refund").click()
    page.locator(f"#payments tr[data-order-id='{order['id']}']", has_text="broken mug").wait_for()
    shot(page, "refunded")

    refreshed = page.locator(f"#payments tr[data-order-id='{order['id']}']")
    assert "$10.00" in refreshed.inner_text()
    assert "refunded" in page.locator(f"#requests tr[data-order-id='{order['id']}']").inner_text()
    refunds = [r.amount for r in stripe_api(store).v1.refunds.list(params={"payment_intent": intent_id})]
    assert refunds == [1000]  # the store keeps amounts in cents: $10 typed is 1000
    assert alice.payment_record(order["id"])["amountRefunded"] == 1000
    alice.close()


def test_a_buyer_on_the_admin_page_sees_no_payments(store: LiveServer, page: Any) -> None:
    sign_in_to_admin(page, store, "bob")
    message = page.locator("#admin-message")
    message.filter(has_text="administrators").wait_for()
    assert page.locator("#payments tbody tr").count() == 0
    assert page.locator("#requests tbody tr").count() == 0
