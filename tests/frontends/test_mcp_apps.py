"""The MCP side a frontend host sees: the payment card's refresh tool is the card's alone
(MCP Apps `visibility: ["app"]`), its resource declares its CSP, and the stateless endpoint
answers GET with 405 — read with the official MCP TypeScript client."""
from __future__ import annotations

from pathlib import Path

import httpx

from tests.bff.support import ScriptedModel
from tests.frontends.conftest import drive
from tests.support import LiveServer

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
