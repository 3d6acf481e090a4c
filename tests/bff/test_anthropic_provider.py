"""A turn through the official `anthropic` SDK against a local server speaking the Messages
API's stream (`message_start`, `content_block_*` with `text_delta` and `input_json_delta`,
`message_delta`, `message_stop`): text, a tool call, its result in a second round, and failures."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from bff.settings import ChatSettings
from tests.bff.conftest import FAST, run_chat_server
from tests.bff.support import Call, Fail, Say, ScriptedModel, collapsed, new_order, stream_turn
from tests.support import LiveServer


@pytest.fixture(scope="module")
def claude_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
                  anthropic_model: tuple[ScriptedModel, str]) -> Iterator[LiveServer]:
    chat = ChatSettings(chat_provider="anthropic", anthropic_base_url=anthropic_model[1],
                        anthropic_api_key="sk-ant-test-key", anthropic_model="scripted-claude", **FAST)
    yield from run_chat_server(request, tmp_path_factory, backend, "airbnb", chat)


def test_text_then_a_tool_call_then_a_second_round(claude_server: LiveServer, claude: ScriptedModel) -> None:
    reservation = new_order(claude_server, "alice")
    claude.replies = [
        [Say("Checking your booking."), Call("getPaymentStatus", {"orderType": "reservation",
                                                                  "orderId": reservation["id"]})],
        [Say("Your reservation is not paid yet.")],
    ]
    with claude_server.client("alice") as alice:
        stream = stream_turn(alice, "is my reservation paid?")

    assert collapsed(stream.names) == ["start", "text", "tool_start", "tool_executing", "tool_result", "text", "done"]
    assert stream.frames[0].data["provider"] == "anthropic"
    assert stream.first("tool_executing").data["args"] == {"orderType": "reservation", "orderId": reservation["id"]}
    result = stream.first("tool_result").data
    assert result["success"] is True and result["result"]["_paymentConfirmation"] == "pending"
    assert stream.text == "Checking your booking.Your reservation is not paid yet."

    first, second = claude.requests
    assert first["model"] == "scripted-claude" and first["stream"] is True and first["max_tokens"] == 1024
    assert "never pay" in first["system"] or "can never pay" in first["system"]
    assert first["messages"] == [{"role": "user", "content": [{"type": "text", "text": "is my reservation paid?"}]}]
    assert {tool["name"] for tool in first["tools"]} >= {"initiatePayment", "listReservations", "getReservation"}
    assistant, results = second["messages"][-2], second["messages"][-1]
    assert assistant["role"] == "assistant"
    assert [block["type"] for block in assistant["content"]] == ["text", "tool_use"]
    use = assistant["content"][1]
    assert (use["name"], use["input"]) == ("getPaymentStatus", {"orderType": "reservation", "orderId": reservation["id"]})
    assert results["role"] == "user" and results["content"][0]["type"] == "tool_result"
    assert results["content"][0]["tool_use_id"] == use["id"] and results["content"][0]["is_error"] is False
    assert "pending" in results["content"][0]["content"]
    sent_key = claude.headers[0].get("x-api-key") or claude.headers[0]["authorization"].removeprefix("Bearer ")
    assert sent_key == "sk-ant-test-key"


def test_a_payment_prepared_through_claude_reaches_the_ui_but_not_its_link_the_model(
        claude_server: LiveServer, claude: ScriptedModel) -> None:
    reservation = new_order(claude_server, "alice")
    claude.replies = [[Call("initiatePayment", {"orderType": "reservation", "orderId": reservation["id"]})],
                      [Say("Click Pay on the card to confirm.")]]
    with claude_server.client("alice") as alice:
        stream = stream_turn(alice, "pay it")
    action = stream.first("tool_result").data["result"]["__frontendAction"]
    assert (action["type"], action["orderId"], action["amount"], action["currency"]) == \
        ("payment", reservation["id"], 420.5, "USD")
    assert action["payUrl"] not in claude.sent_text()
    assert "eyJ" not in claude.sent_text()  # no bearer token (a JWT) of any user


def test_a_provider_error_before_the_stream_ends_in_error(claude_server: LiveServer, claude: ScriptedModel) -> None:
    claude.replies = [[Fail(529)]]
    with claude_server.client("alice") as alice:
        stream = stream_turn(alice, "hi")
    assert stream.names == ["start", "error"]
    assert stream.frames[-1].data["message"] == "The assistant is unavailable: the model endpoint answered HTTP 529."


def test_an_error_event_inside_the_stream_ends_in_error(claude_server: LiveServer, claude: ScriptedModel) -> None:
    claude.replies = [[Say("Working on it"), Fail(mid_stream=True)]]
    with claude_server.client("alice") as alice:
        stream = stream_turn(alice, "hi")
    assert collapsed(stream.names) == ["start", "text", "error"]
