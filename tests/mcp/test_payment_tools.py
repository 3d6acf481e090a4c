"""The payment tools of every bundled app (SQLite and PostgreSQL): initiatePayment prepares a
pay card and a signed pay link but moves no money; the buyer pays in the trusted UI (here its
REST calls); getPaymentStatus and listSavedCards then report it, without card data or secrets."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from orderpay import build_runtime
from payment_core.errors import ServiceUnavailable
from payment_core.identity import find_demo_user
from payment_core.paylinks import PayGrant, pay_link_secret, verify_pay_token
from payment_core.settings import Settings
from payment_core.spec import load_app
from mcp_server.server import tool_specs
from tests.mcp.support import (
    create_values,
    data_of,
    error_of,
    mcp_client,
    order_object,
    pay_in_the_trusted_ui,
    text_of,
    tool_names,
)
from tests.support import LiveServer

pytestmark = pytest.mark.anyio

# (amount, amountMinor, currency) of each app's first demo order, and the order status a payment maps to.
CHARGES = {"store": (25, 2500, "USD"), "airbnb": (420.5, 42050, "USD"), "ebaycclone": (59.99, 5999, "USD"),
           "clonesahibinden": (149.9, 14990, "TRY")}
PAID_STATUS = {"store": "paid", "airbnb": "confirmed", "ebaycclone": "PAID", "clonesahibinden": "active"}


async def new_order(server: LiveServer, app_name: str) -> dict[str, Any]:
    obj = order_object(app_name)
    async with mcp_client(server, "alice") as alice:
        return data_of(await alice.call_tool(tool_names(obj)[2], create_values(obj)))[obj.name]


async def test_initiate_payment_returns_a_pay_card_and_charges_nothing(server: LiveServer, app_name: str) -> None:
    service, obj = load_app(app_name).spec.order_objects()[0]
    order = await new_order(server, app_name)
    reference = {"orderType": obj.name, "orderId": order["id"]}
    async with mcp_client(server, "alice") as alice:
        issued_at = time.time()
        result = await alice.call_tool("initiatePayment", reference)
        data = data_of(result)
        status = data_of(await alice.call_tool("getPaymentStatus", reference))
        unchanged = data_of(await alice.call_tool(tool_names(obj)[1], {obj.id_param: order["id"]}))[obj.name]

    action = data["__frontendAction"]
    amount, amount_minor, currency = CHARGES[app_name]
    assert {key: action[key] for key in ("type", "orderId", "orderType", "serviceName", "amount", "amountMinor",
                                         "currency")} == {
        "type": "payment", "orderId": order["id"], "orderType": obj.name, "serviceName": service.name,
        "amount": amount, "amountMinor": amount_minor, "currency": currency}
    assert action["description"] and data["message"]
    assert result.content[0].text.startswith("Payment prepared, nothing charged") and action["payUrl"] in text_of(result)

    assert action["payUrl"].startswith(f"{server.base_url}/pay/")
    grant = verify_pay_token(pay_link_secret(server.settings), action["payUrl"].rsplit("/", 1)[1])
    assert grant == PayGrant(server.session("alice").user_id, obj.name, order["id"], amount_minor, currency,
                             grant.expires_at, grant.nonce, grant.issued_at)
    ttl = server.settings.pay_link_ttl_seconds
    assert issued_at + ttl - 2 <= grant.expires_at <= time.time() + ttl
    assert grant.expires_at - grant.issued_at == ttl

    assert status == {"orderType": obj.name, "orderId": order["id"], "_paymentConfirmation": "pending",
                      "orderStatus": order[obj.order.orderStatusProperty],
                      "orderStatusProperty": obj.order.orderStatusProperty,
                      "paymentStarted": False, "paymentStatus": None, "statusLiteral": None}
    assert unchanged == order


async def test_after_the_buyer_pays_the_tools_report_it_and_refuse_a_second_payment(server: LiveServer,
                                                                                    app_name: str) -> None:
    obj = order_object(app_name)
    order = await new_order(server, app_name)
    reference = {"orderType": obj.name, "orderId": order["id"]}
    pay_in_the_trusted_ui(server, app_name, order["id"])

    async with mcp_client(server, "alice") as alice:
        result = await alice.call_tool("getPaymentStatus", reference)
        again = await alice.call_tool("initiatePayment", reference)
        cards = await alice.call_tool("listSavedCards", {})
    status = data_of(result)
    assert (status["_paymentConfirmation"], status["orderStatus"], status["paymentStarted"], status["paymentStatus"],
            status["statusLiteral"]) == ("paid", PAID_STATUS[app_name], True, "succeeded", "success")
    assert error_of(again) == "Error executing tool initiatePayment: this order is already paid"

    saved = data_of(cards)["cards"]
    assert [set(card) for card in saved] == [{"brand", "last4", "expMonth", "expYear", "usable"}]
    assert saved[0]["usable"] is True
    assert (saved[0]["brand"], saved[0]["last4"]) == ("visa", "4242")
    assert isinstance(saved[0]["expMonth"], int) and isinstance(saved[0]["expYear"], int)
    for answer in (result, cards):  # no client secret, payment method id or card holder reaches the model
        assert "secret" not in text_of(answer) and "pm_" not in text_of(answer) and "pi_" not in text_of(answer)

    async with mcp_client(server, "bob") as bob:
        assert data_of(await bob.call_tool("listSavedCards", {})) == {"cards": []}
        assert error_of(await bob.call_tool("getPaymentStatus", reference)) == \
            "Error executing tool getPaymentStatus: Record not found"


async def test_the_pay_cards_quote_pays_what_the_card_showed(server: LiveServer, app_name: str) -> None:
    obj = order_object(app_name)
    order = await new_order(server, app_name)
    async with mcp_client(server, "alice") as alice:
        action = data_of(await alice.call_tool("initiatePayment", {"orderType": obj.name, "orderId": order["id"]}))[
            "__frontendAction"]
    quote = action["quote"]
    assert (quote["amount"], quote["currency"]) == (action["amount"], action["currency"]) and quote["version"]
    pay_in_the_trusted_ui(server, app_name, order["id"], quote=quote)


async def test_without_a_pay_link_secret_in_production_only_payments_are_refused(tmp_path: Path) -> None:
    settings = Settings(app="store", data_dir=tmp_path, environment="production",
                        auth_jwks_url="http://127.0.0.1:9/jwks.json", stripe_secret_key="sk_test_NeverCalledHere")
    runtime = build_runtime(settings)
    try:
        await runtime.start()
        tools = {tool.name: tool for tool in tool_specs(runtime)}  # building the server needs no secret
        buyer = find_demo_user("alice").as_session()  # type: ignore[union-attr]
        created = await tools["createOrder"].handler(buyer, {"totalAmount": 1500})
        order = created.structured_content["order"]
        with pytest.raises(ServiceUnavailable, match="pay links are not configured on this server"):
            await tools["initiatePayment"].handler(buyer, {"orderId": order["id"]})
    finally:
        await runtime.close()
