"""An AG-UI client (`@ag-ui/client`'s HttpAgent, what CopilotKit builds on) runs a turn against
orderpay: text, the tool calls with the pay card's result, and the payment in the agent's state."""
from __future__ import annotations

import json
from pathlib import Path

from tests.bff.support import Call, Pause, Say, ScriptedModel, Until, new_order
from tests.frontends.conftest import drive
from tests.frontends.test_ai_sdk import BuyerPaysMeanwhile, order_type
from tests.support import LiveServer


def test_an_ag_ui_agent_runs_a_turn_with_the_pay_card(chat_server: LiveServer, model: ScriptedModel,
                                                       node_clients: Path) -> None:
    order = new_order(chat_server, "alice")
    kind = order_type(chat_server)
    # The buyer pays in the trusted UI while the run is still going.
    buyer = BuyerPaysMeanwhile(chat_server, model, order["id"])
    model.replies = [[Say("Preparing it."), Call("initiatePayment", {"orderType": kind, "orderId": order["id"]})],
                     [Say("Click Pay on the card."), Until(buyer.paid), Pause(0.5)]]
    seen = drive(node_clients, chat_server, "alice", "agUiRun", threadId="ag-thread-1", runId="run-1", text="pay it")
    buyer.join()

    types = [event["type"] for event in seen["events"]]
    assert types[:2] == ["RUN_STARTED", "CUSTOM"] and types[-1] == "RUN_FINISHED"
    assert [t for t in types if t.startswith("TOOL_CALL")] == ["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END",
                                                               "TOOL_CALL_RESULT"]
    assert types.count("TEXT_MESSAGE_START") == 2 == types.count("TEXT_MESSAGE_END")
    started = seen["events"][0]
    assert (started["threadId"], started["runId"]) == ("ag-thread-1", "run-1")
    turn = seen["events"][1]
    assert turn["name"] == "orderpay.turn" and turn["value"]["provider"] == "openai"

    # The agent's messages: the assistant's text and tool call, and the tool's result with the card.
    assistant = [m for m in seen["messages"] if m["role"] == "assistant"]
    assert [m.get("content") for m in assistant] == ["Preparing it.", "Click Pay on the card."]
    (call,) = assistant[0]["toolCalls"]
    assert call["function"]["name"] == "initiatePayment"
    assert json.loads(call["function"]["arguments"]) == {"orderType": kind, "orderId": order["id"]}
    (result,) = [m for m in seen["messages"] if m["role"] == "tool"]
    shown = json.loads(result["content"])
    assert result["toolCallId"] == call["id"] and shown["success"] is True
    assert shown["result"]["__frontendAction"]["orderId"] == order["id"]

    # The payment's state: STATE_SNAPSHOT put it in the agent's state (pending), a STATE_DELTA updated it.
    snapshot = next(event for event in seen["events"] if event["type"] == "STATE_SNAPSHOT")
    (prepared,) = snapshot["snapshot"]["payments"].values()
    assert (prepared["orderId"], prepared["status"]) == (order["id"], "pending")
    assert "payUrl" not in prepared
    assert [t for t in types if t.startswith("STATE")] == ["STATE_SNAPSHOT", "STATE_DELTA"]
    (payment,) = seen["state"]["payments"].values()
    assert (payment["orderId"], payment["status"]) == (order["id"], "paid")
    assert seen["result"]["conversationId"] == turn["value"]["conversationId"]


def test_a_bad_run_input_is_refused(chat_server: LiveServer, model: ScriptedModel) -> None:
    with chat_server.client("alice") as alice:
        before = alice.get("/api/chat/conversations").json()["conversations"]
        refused = alice.post("/api/ag-ui", json={"threadId": "t", "messages": []})
        no_user = alice.post("/api/ag-ui", json={"threadId": "t", "runId": "r", "messages": [
            {"id": "a", "role": "assistant", "content": "hello"}]})
        after = alice.get("/api/chat/conversations").json()["conversations"]
    assert refused.status_code == 400 and refused.json()["message"].startswith("not an AG-UI RunAgentInput")
    assert no_user.status_code == 400 and no_user.json()["message"] == "messages: no user message"
    assert after == before  # no conversation started, no turn ran
