"""The MCP side a frontend host sees: the payment card's refresh tool is the card's alone
(MCP Apps `visibility: ["app"]`), its resource declares its CSP, and the stateless endpoint
answers GET with 405 — read with the official MCP TypeScript client."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from tests.bff.support import ScriptedModel, new_order
from tests.frontends.conftest import drive
from tests.support import LiveServer, run_async

CARD = "ui://orderpay/payment-card.html"


def test_the_cards_refresh_tool_is_visible_to_the_app_only(chat_server: LiveServer, node_clients: Path,
                                                           model: ScriptedModel) -> None:
    seen = drive(node_clients, chat_server, "alice", "mcpTools", resourceUri=CARD)
    tools = {tool["name"]: tool for tool in seen["tools"]}

    assert tools["refreshPayment"]["_meta"]["ui"] == {"resourceUri": CARD, "visibility": ["app"]}
    status = tools["getPaymentStatus"]
    assert "visibility" not in (status.get("_meta") or {}).get("ui", {})  # the model's, read-only
    assert status["annotations"]["readOnlyHint"] is True
    assert tools["initiatePayment"]["_meta"]["ui"]["resourceUri"] == CARD
    (card,) = seen["resource"]["contents"]
    assert card["mimeType"] == "text/html;profile=mcp-app"
    assert card["_meta"]["ui"]["csp"] == {"connectDomains": [], "resourceDomains": []}
    assert '"refreshPayment"' in card["text"]

    # The chat backend keeps the app-only tool from its model.
    with chat_server.client("alice") as alice:
        listed = [tool["name"] for tool in alice.get("/api/tools").json()["tools"]]
        alice.post("/api/chat", json={"message": "hello"})
    assert "getPaymentStatus" in listed and "refreshPayment" not in listed
    offered = [tool["function"]["name"] for tool in model.requests[-1]["tools"]]
    assert "getPaymentStatus" in offered and "refreshPayment" not in offered


def test_get_on_the_stateless_endpoint_is_405(chat_server: LiveServer) -> None:
    token = chat_server.token("alice")
    with httpx.Client(base_url=chat_server.base_url, timeout=10) as client:
        signed_in = client.get("/mcp", headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
        anonymous = client.get("/mcp", headers={"Accept": "text/event-stream"})
        delete = client.delete("/mcp", headers={"Authorization": f"Bearer {token}"})
    for answer in (signed_in, anonymous, delete):
        assert answer.status_code == 405 and answer.headers["allow"] == "POST"
        assert answer.json()["result"] == "ERR" and "stateless" in answer.json()["message"]


class RendersApps(ClientExtension):
    """What a host that renders MCP Apps advertises."""

    identifier = "io.modelcontextprotocol/ui"

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": ["text/html;profile=mcp-app"]}


async def call_initiate_payment(server: LiveServer, order: dict[str, Any], *, renders_apps: bool) -> CallToolResult:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {server.token('alice')}"}, timeout=30) as http:
        transport = streamable_http_client(f"{server.base_url}/mcp", http_client=http)
        async with Client(transport, extensions=[RendersApps()] if renders_apps else None) as client:
            return await client.call_tool("initiatePayment", {"orderType": "order", "orderId": order["id"]})


def test_a_host_rendering_the_card_gives_its_model_the_content_and_its_ui_the_structured_content(
        chat_server: LiveServer) -> None:
    order = new_order(chat_server, "alice")
    rendered = run_async(call_initiate_payment(chat_server, order, renders_apps=True))
    text_only = run_async(call_initiate_payment(chat_server, order, renders_apps=False))

    # MCP Apps: `content` is the model's (no pay link, no copy of the UI's data)…
    assert [block.type for block in rendered.content] == ["text"]
    assert rendered.content[0].text.startswith("Payment prepared, nothing charged yet:")
    assert "/pay/" not in rendered.content[0].text and "Pay on the payment card" in rendered.content[0].text
    # …`structuredContent` the card's, with the pay link.
    action = rendered.structured_content["__frontendAction"]
    assert action["orderId"] == order["id"] and action["payUrl"].startswith(f"{chat_server.base_url}/pay/")
    # A text-only client gets the link in the text, and the JSON twin of the structured content.
    assert "/pay/" in text_only.content[0].text
    assert json.loads(text_only.content[-1].text) == text_only.structured_content
