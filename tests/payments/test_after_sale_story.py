"""The whole system (chat, MCP, REST, pay pages) after the sale, on SQLite and PostgreSQL:

- a chat-to-charge story leaves an audit trail, one hash-chained entry per step, in order;
- `orderpay audit verify` (the real CLI, on the real database) finds one altered entry;
- a buyer's assistant can ask for a refund (`requestRefund`) but never refund: no such tool
  over MCP or the chat's tools API, and the REST refund route refuses buyers;
- a buyer cancels an unpaid order's 3-D Secure payment: Stripe's intent is cancelled, the
  spec's `paymentResultCanceled` applies, and the pay link issued before it is refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from orderpay import create_server
from bff.settings import ChatSettings
from payment_core.audit import GENESIS, entry_hash
from tests.bff.conftest import FAST
from tests.bff.support import stream_turn
from tests.mcp.support import data_of, mcp_client, text_of
from tests.payments.helpers import THREE_DS, Buyer, intents_of, ok, on_server, order_app, payment_server, stripe_api
from tests.support import LiveServer, run_async

APP = order_app("store")
SECRET = "pay-link-secret-of-the-after-sale-tests-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    chat = ChatSettings(chat_provider="auto", **FAST)  # no model key: the offline assistant
    yield from payment_server(request, tmp_path_factory, backend, "store", factory=partial(create_server, chat=chat),
                              pay_link_secret=SECRET)


@pytest.fixture
def alice(server: LiveServer) -> Iterator[Buyer]:
    buyer = Buyer(server, "alice", APP)
    yield buyer
    buyer.close()


def audit(http: httpx.Client, order_id: str, **params: str) -> httpx.Response:
    return http.get(f"{APP.prefix}/v1/{APP.name}paymentaudit/{order_id}", params=params)


def call_tool(server: LiveServer, username: str, tool: str, arguments: dict[str, Any]) -> Any:
    async def call() -> Any:
        async with mcp_client(server, username) as client:
            return await client.call_tool(tool, arguments)
    return run_async(call())


def verify_cli(server: LiveServer) -> subprocess.CompletedProcess[str]:
    """`orderpay audit verify`, as an operator runs it against the server's database."""
    settings = server.settings
    env = {**os.environ, "ORDERPAY_APP": "store", "ORDERPAY_DATA_DIR": str(settings.data_dir),
           "ORDERPAY_DATABASE_URL": settings.resolved_database_url(server.runtime.app.codename)}
    return subprocess.run([str(Path(sys.executable).with_name("orderpay")), "audit", "verify"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_chat_to_charge_story_is_one_verified_chain(server: LiveServer, alice: Buyer) -> None:
    card = alice.save_card()
    order = alice.create_order()
    with server.client("alice") as chat:
        turn = stream_turn(chat, "pay my latest unpaid order")
    prepared = turn.all("tool_result")[-1].data
    assert prepared["tool"] == "initiatePayment" and prepared["result"]["__frontendAction"]["orderId"] == order["id"]
    quote = prepared["result"]["__frontendAction"]["quote"]
    paid = ok(alice.http.patch(f"{APP.start}/{order['id']}", headers={"User-Agent": "StoryBrowser/1.0"},
                               json={"paymentUserParams": {"paymentMethodId": card["paymentMethodId"], "quote": quote}}))
    assert paid["paymentResult"]["statusLiteral"] == "success"

    body = ok(audit(alice.http, order["id"]))
    entries = body[f"sys_{APP.name}PaymentAudit"]
    assert [e["kind"] for e in entries][:5] == ["prepared", "quote_shown", "pay_clicked", "intent_created", "stripe_state"]
    prepared_entry, shown, clicked, created, state = entries[:5]
    assert prepared_entry["data"]["tool"] == "initiatePayment" and prepared_entry["data"]["by"] == alice.user_id
    assert prepared_entry["data"].get("mcpClient")  # which MCP client asked
    # ...in which conversation and turn of the chat.
    assert prepared_entry["data"]["conversationId"] == turn.frames[0].data["conversationId"]
    assert prepared_entry["data"].get("turnId")
    assert prepared_entry["data"]["transport"] == "in-process"  # the chat backend reached its own MCP server directly
    assert shown["data"]["amountMinor"] == 2500 and shown["data"]["currency"] == "USD"
    assert shown["data"]["quoteVersion"] == quote["version"]
    assert clicked["data"]["userAgent"] == "StoryBrowser/1.0" and clicked["data"]["ip"] == "127.0.0.1"
    assert created["data"]["paymentId"] == paid["paymentResult"]["paymentId"]
    assert (state["data"]["status"], state["data"]["via"]) == ("succeeded", "start")
    # The chain: each entry names the hash of the one before; each hash is over the entry's canonical JSON.
    assert entries[0]["prevHash"] == GENESIS and [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    for before, entry in zip(entries, entries[1:]):
        assert entry["prevHash"] == before["hash"]
    # No secret reaches the trail: no client secret, pay link or token.
    text = json.dumps(entries)
    assert "_secret_" not in text and "/pay/" not in text and "Bearer" not in text
    assert paid["paymentResult"]["paymentIntentInfo"]["clientSecret"] not in text

    # Someone else sees nothing; an administrator gets Stripe's dispute evidence fields.
    with server.client("bob") as bob:
        assert audit(bob, order["id"]).status_code == 404
    assert audit(alice.http, order["id"], format="evidence").status_code == 403
    with server.client("admin") as admin:
        evidence = ok(audit(admin, order["id"], format="evidence"))["disputeEvidence"]
    assert evidence["customer_email_address"] == "alice@example.com"
    assert evidence["customer_purchase_ip"] == "127.0.0.1"
    assert evidence["product_description"] == shown["data"]["description"]
    assert entries[-1]["hash"][:16] in evidence["uncategorized_text"]



def test_audit_verify_on_a_database_never_set_up_says_so(tmp_path: Path) -> None:
    """An operator pointing the command at the wrong (empty) database gets one line, not a traceback."""
    env = {**os.environ, "ORDERPAY_APP": "store", "ORDERPAY_DATA_DIR": str(tmp_path),
           "ORDERPAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"}
    answer = subprocess.run([str(Path(sys.executable).with_name("orderpay")), "audit", "verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert answer.returncode == 1
    assert answer.stderr.strip() == ("orderpay: store: this database has no tables yet (no payment was ever recorded "
                                     "in it): run `orderpay db upgrade`, or check ORDERPAY_DATABASE_URL")
    assert "Traceback" not in answer.stderr and answer.stdout == ""

def test_audit_verify_names_the_one_altered_entry(server: LiveServer, alice: Buyer) -> None:
    card = alice.save_card()
    order = alice.create_order()
    ok(alice.pay(order["id"], card["paymentMethodId"]))
    good = verify_cli(server)
    assert good.returncode == 0, good.stderr
    assert "0 broken" in good.stdout

    entries = ok(audit(alice.http, order["id"]))[f"sys_{APP.name}PaymentAudit"]
    target = next(e for e in entries if e["kind"] == "stripe_state")
    table = server.runtime.payments.audit.table

    async def tamper() -> None:  # someone edits the amount Stripe charged, straight in the database
        changed = json.dumps({**target["data"], "amount": 1}, sort_keys=True, separators=(",", ":"))
        async with server.runtime.engine.begin() as conn:
            await conn.execute(update(table).where(table.c.orderId == order["id"], table.c.seq == target["seq"])
                               .values(data=changed))
    on_server(server, tamper)

    broken = verify_cli(server)
    assert broken.returncode == 1, broken.stdout
    assert f"{order['id']}: entry {target['seq']}: its content does not match its hash" in broken.stderr
    assert "1 broken" in broken.stdout
    assert entry_hash({**target, "objectName": APP.name, "orderId": order["id"]}) == target["hash"]


def test_a_buyer_asks_for_a_refund_but_no_tool_can_refund(server: LiveServer, alice: Buyer) -> None:
    card = alice.save_card()
    order = alice.create_order()
    intent_id = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]["paymentId"]

    asked = data_of(call_tool(server, "alice", "requestRefund",
                              {"orderType": APP.name, "orderId": order["id"], "reason": "The mug arrived broken"}))
    assert asked["refundRequest"]["status"] == "open" and asked["refundRequest"]["orderId"] == order["id"]
    again = data_of(call_tool(server, "alice", "requestRefund",
                              {"orderType": APP.name, "orderId": order["id"], "reason": "Still broken"}))
    assert again["refundRequest"]["id"] == asked["refundRequest"]["id"]  # one open request per order
    not_bobs = call_tool(server, "bob", "requestRefund", {"orderType": APP.name, "orderId": order["id"], "reason": "x"})
    assert not_bobs.is_error and "not found" in text_of(not_bobs).lower()

    # The merchant sees it; no money moved.
    with server.client("admin") as admin:
        listed = ok(admin.get(f"{APP.prefix}/v1/refundrequests", params={"status": "open"}))["sys_refundRequests"]
    assert any(r["id"] == asked["refundRequest"]["id"] and r["reason"] == "The mug arrived broken" for r in listed)
    assert list(stripe_api(server).v1.refunds.list(params={"payment_intent": intent_id})) == []
    assert alice.http.get(f"{APP.prefix}/v1/refundrequests").status_code == 403
    kinds = [e["kind"] for e in ok(audit(alice.http, order["id"]))[f"sys_{APP.name}PaymentAudit"]]
    assert kinds[-1] == "refund_requested"

    # No tool refunds: not over MCP, not through the chat's tools API; the REST route refuses buyers.
    async def tools() -> set[str]:
        async with mcp_client(server, "alice") as client:
            return {tool.name for tool in (await client.list_tools()).tools}
    names = run_async(tools())
    assert "requestRefund" in names and not [n for n in names if "refund" in n.lower() and n != "requestRefund"]
    forced = call_tool(server, "alice", "refundPayment", {"orderType": APP.name, "orderId": order["id"]})
    assert forced.is_error
    with server.client("alice") as chat:
        listed_tools = {t["name"] for t in chat.get("/api/tools").json()["tools"]}
        called = chat.post("/api/tools/call", json={"tool": "refundPayment", "arguments": {"orderId": order["id"]}})
    assert "requestRefund" in listed_tools and "refundPayment" not in listed_tools and called.status_code == 404
    refused = alice.http.post(f"{APP.prefix}/v1/refund{APP.name}payment/{order['id']}", json={})
    assert refused.status_code == 403 and refused.json()["result"] == "ERR"
    assert list(stripe_api(server).v1.refunds.list(params={"payment_intent": intent_id})) == []


def test_a_buyer_cancels_an_unpaid_3d_secure_payment_and_its_pay_link_stops_working(server: LiveServer,
                                                                                   alice: Buyer) -> None:
    card = alice.save_card(THREE_DS)
    order = alice.create_order()
    link = data_of(call_tool(server, "alice", "initiatePayment",
                             {"orderType": APP.name, "orderId": order["id"]}))["__frontendAction"]["payUrl"]
    started = ok(alice.pay(order["id"], card["paymentMethodId"]))["paymentResult"]
    assert started["paymentStatus"] == "requires_action"

    with server.client("bob") as bob:
        assert bob.post(f"{APP.prefix}/v1/cancel{APP.name}payment/{order['id']}").status_code == 404
    canceled = ok(alice.http.post(f"{APP.prefix}/v1/cancel{APP.name}payment/{order['id']}"))

    assert canceled["paymentResult"]["statusLiteral"] == "canceled"
    assert canceled[APP.name]["_paymentConfirmation"] == "canceled"
    assert canceled[APP.name]["status"] == APP.mapped["canceled"]  # the spec's paymentResultCanceled
    assert stripe_api(server).v1.payment_intents.retrieve(started["paymentId"]).status == "canceled"
    api = link.replace("/pay/", "/pay/api/", 1)
    new_card = stripe_api(server, server.runtime.stripe.publishable_key).v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    through_link = httpx.patch(f"{api}/start", json={"paymentUserParams": {"paymentMethodId": new_card.id}}, timeout=30)
    assert through_link.status_code == 409, through_link.text
    assert "cancelled" in through_link.json()["message"]
    assert [i for i in intents_of(server, order["id"]) if i["status"] == "succeeded"] == []
    kinds = [e["kind"] for e in ok(audit(alice.http, order["id"]))[f"sys_{APP.name}PaymentAudit"]]
    assert kinds[-2:] == ["canceled", "stripe_state"]

    # A paid order cannot be cancelled.
    visa = alice.save_card()
    paid_order = alice.create_order()
    ok(alice.pay(paid_order["id"], visa["paymentMethodId"]))
    refused = alice.http.post(f"{APP.prefix}/v1/cancel{APP.name}payment/{paid_order['id']}")
    assert refused.status_code == 409 and refused.json()["result"] == "ERR"
    assert alice.order(paid_order["id"])["_paymentConfirmation"] == "paid"
