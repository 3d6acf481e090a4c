"""The tools API over every MCP server (orderpay's and extra ones by URL, with the user's token
forwarded and clashing names namespaced, a dead server reported and left out), and the safety
rule: the model never receives tokens, client secrets, keys, card data or pay links, while the
UI still gets the `__frontendAction`."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from bff.settings import ChatSettings, McpServerConfig
from tests.bff.conftest import FAST, run_chat_server
from tests.bff.support import Call, Say, ScriptedModel, new_order, serving, stream_turn
from tests.support import LiveServer, free_port

CLIENT_SECRET = "pi_3PqRs_secret_tUvWxYz"
CARD = "4242 4242 4242 4242"
STRIPE_KEY = "sk_test_51HxYzAbCdEf"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ"
PAY_LINK = "https://shop.example/pay/tok123.sig456"

seen_authorization: list[str] = []


def extras_app() -> Any:
    """A third-party MCP server that is careless with secrets, and names a tool like orderpay does."""
    server = MCPServer("extras")

    @server.tool(name="initiatePayment")
    async def other_payment(orderId: str) -> dict[str, Any]:  # noqa: N803
        return {"started": orderId}

    @server.tool(name="checkoutSession")
    async def checkout_session() -> dict[str, Any]:
        return {"clientSecret": CLIENT_SECRET, "card": {"number": CARD, "cvc": "123"},
                "note": f"charged with {STRIPE_KEY}, Bearer {JWT}",
                "__frontendAction": {"type": "payment", "orderId": "o-1", "amount": 5, "currency": "USD",
                                     "payUrl": PAY_LINK}}

    app = server.streamable_http_app(stateless_http=True, json_response=True,
                                     transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen_authorization.append(dict(scope["headers"]).get(b"authorization", b"").decode())
        await app(scope, receive, send)

    return recording


@pytest.fixture(scope="module")
def with_extras(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
                openai_model: tuple[ScriptedModel, str]) -> Iterator[LiveServer]:
    with serving(extras_app()) as extras_url:
        chat = ChatSettings(chat_provider="openai", openai_base_url=openai_model[1], openai_model="scripted",
                            mcp_servers=[McpServerConfig("extras", f"{extras_url}/mcp"),
                                         McpServerConfig("gone", f"http://127.0.0.1:{free_port()}/mcp")], **FAST)
        yield from run_chat_server(request, tmp_path_factory, backend, "store", chat)


def test_tools_of_every_server_are_listed_with_clashes_namespaced(with_extras: LiveServer) -> None:
    seen_authorization.clear()
    token = with_extras.token("alice")
    with httpx.Client(base_url=with_extras.base_url, headers={"Authorization": f"Bearer {token}"}) as alice:
        tools = alice.get("/api/tools").json()
        extras = alice.get("/api/tools/service/extras").json()
        unknown = alice.get("/api/tools/service/nowhere")
    with with_extras.client("admin") as admin:
        admin_status = admin.get("/api/tools/status").json()["servers"]

    names = {tool["name"]: tool for tool in tools["tools"]}
    assert names["initiatePayment"]["server"] == "orderpay"
    assert names["extras__initiatePayment"]["server"] == "extras"
    assert names["extras__initiatePayment"]["originalName"] == "initiatePayment"
    assert names["checkoutSession"]["server"] == "extras" and "inputSchema" in names["listOrders"]
    assert {tool["name"] for tool in extras["tools"]} == {"extras__initiatePayment", "checkoutSession"}
    assert unknown.status_code == 404
    assert f"Bearer {token}" in seen_authorization  # the user's own token, forwarded
    health = {server["name"]: server for server in admin_status}
    # The tools a model may see: not the card's refreshPayment.
    assert health["orderpay"]["healthy"] is True and health["orderpay"]["toolCount"] == 7
    assert health["extras"]["healthy"] is True and health["extras"]["toolCount"] == 2
    assert health["gone"]["healthy"] is False and "ConnectError" in health["gone"]["lastError"]
    assert health["orderpay"]["url"].endswith("/mcp")  # administrators see where each server runs


def test_where_the_mcp_servers_run_is_shown_to_administrators_only(with_extras: LiveServer) -> None:
    with with_extras.client("alice") as alice:
        answers = [alice.get("/api/tools/status").json()["servers"], alice.get("/api/tools").json()["servers"],
                   [alice.get("/api/tools/service/gone").json()["server"]],
                   alice.post("/api/tools/refresh").json()["servers"]]
    with with_extras.client("admin") as admin:
        shown = admin.get("/api/tools/status").json()["servers"]
    for servers in answers:
        for server in servers:
            assert "url" not in server and "lastError" not in server, server
            assert {"name", "healthy", "toolCount"} <= server.keys()
            assert "127.0.0.1" not in str(server)
    assert [(s["name"], s["healthy"]) for s in answers[0]] == [("orderpay", True), ("extras", True), ("gone", False)]
    assert all(server["url"].startswith("http://127.0.0.1:") for server in shown)


def test_a_tool_is_called_directly_with_the_callers_token(with_extras: LiveServer) -> None:
    order = new_order(with_extras, "alice")
    with with_extras.client("alice") as alice:
        paid = alice.post("/api/tools/call", json={"tool": "initiatePayment",
                                                   "arguments": {"orderType": "order", "orderId": order["id"]}})
        other = alice.post("/api/tools/call", json={"tool": "extras__initiatePayment", "arguments": {"orderId": "x"}})
        missing = alice.post("/api/tools/call", json={"tool": "noSuchTool", "arguments": {}})
        refreshed = alice.post("/api/tools/refresh").json()
    with with_extras.client("bob") as bob:
        not_bobs = bob.post("/api/tools/call", json={"tool": "initiatePayment",
                                                     "arguments": {"orderType": "order", "orderId": order["id"]}})
    assert paid.status_code == 200 and paid.json()["success"] is True
    assert paid.json()["result"]["__frontendAction"]["orderId"] == order["id"]
    assert other.json() == {"tool": "extras__initiatePayment", "success": True, "result": {"started": "x"}}
    assert missing.status_code == 404
    assert refreshed["toolCount"] == 9 and [s["name"] for s in refreshed["servers"]] == ["orderpay", "extras", "gone"]
    assert not_bobs.json()["success"] is False and "Record not found" in not_bobs.json()["error"]


def test_the_model_never_receives_secrets_but_the_ui_gets_the_payment_card(with_extras: LiveServer,
                                                                           model: ScriptedModel) -> None:
    order = new_order(with_extras, "alice")
    model.replies = [[Call("checkoutSession", {}),
                      Call("initiatePayment", {"orderType": "order", "orderId": order["id"]})],
                     [Say("Click Pay on the card to confirm.")]]
    with with_extras.client("alice") as alice:
        stream = stream_turn(alice, "pay my order")

    sent = model.sent_text()
    for secret in ("eyJ", CLIENT_SECRET, STRIPE_KEY, JWT, CARD, "4242424242424242", PAY_LINK,
                   "/pay/"):
        assert secret not in sent, secret
    tool_messages = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert "[client secret removed]" in tool_messages[0]["content"] or '"[removed]"' in tool_messages[0]["content"]
    assert '"shownToUser":true' in tool_messages[1]["content"]

    careless, ours = (frame.data for frame in stream.all("tool_result"))
    assert careless["result"]["clientSecret"] == "[removed]" and careless["result"]["card"]["cvc"] == "[removed]"
    assert CARD not in str(careless) and STRIPE_KEY not in str(careless)
    assert careless["result"]["__frontendAction"]["payUrl"] == PAY_LINK  # the UI's card keeps its link
    assert ours["result"]["__frontendAction"]["payUrl"].startswith(f"{with_extras.base_url}/pay/")
    assert stream.names[-1] == "done" and stream.frames[-1].data["toolCalls"] == 2
