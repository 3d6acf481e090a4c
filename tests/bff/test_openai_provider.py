"""A turn through the official `openai` SDK against a local server speaking OpenAI's chat
completions stream: text, a tool call run through orderpay's MCP server, its result sent back
for a second round, keep-alives while the model is slow, and failures ending in `error`."""
from __future__ import annotations

from tests.bff.support import Call, Fail, Pause, Say, ScriptedModel, collapsed, new_order, stream_turn
from tests.support import LiveServer


def test_a_text_answer_streams_start_text_done_with_ids(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Say("Hello Alice, how can I help?")]]
    with openai_server.client("alice") as alice:
        stream = stream_turn(alice, "hi")

    assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
    assert collapsed(stream.names) == ["start", "text", "done"]
    start, done = stream.frames[0].data, stream.frames[-1].data
    assert start == {"conversationId": start["conversationId"], "provider": "openai"}
    assert stream.text == "Hello Alice, how can I help?"
    assert done["conversationId"] == start["conversationId"] and done["toolCalls"] == 0
    assert isinstance(done["processingTime"], int) and done["processingTime"] >= 0
    turn = stream.frames[0].id.split(":")[0]
    assert [frame.id for frame in stream.frames] == [f"{turn}:{n}" for n in range(len(stream.frames))]

    sent = model.requests[0]
    assert sent["model"] == "scripted" and sent["stream"] is True
    assert sent["messages"][0]["role"] == "system" and "confirms the payment there" in sent["messages"][0]["content"]
    assert sent["messages"][-1] == {"role": "user", "content": "hi"}
    assert {"initiatePayment", "getPaymentStatus", "listSavedCards", "listOrders", "getOrder"} <= \
        {tool["function"]["name"] for tool in sent["tools"]}
    assert model.headers[0]["authorization"] == "Bearer sk-test-key"


def test_a_tool_call_runs_over_mcp_and_its_result_feeds_a_second_round(openai_server: LiveServer,
                                                                        model: ScriptedModel) -> None:
    order = new_order(openai_server, "alice")
    model.replies = [
        [Say("Let me prepare that."), Call("initiatePayment", {"orderType": "order", "orderId": order["id"]})],
        [Say("Your payment card is ready: click Pay to confirm it.")],
    ]
    with openai_server.client("alice") as alice:
        stream = stream_turn(alice, "I want to pay my order")

    assert collapsed(stream.names) == ["start", "text", "tool_start", "tool_executing", "tool_result", "payment", "text",
                                       "done"]
    assert stream.first("payment").data == {
        "id": f"payment-order-{order['id']}", "orderId": order["id"], "orderType": "order",
        "serviceName": stream.first("tool_result").data["result"]["__frontendAction"]["serviceName"],
        "amount": stream.first("tool_result").data["result"]["__frontendAction"]["amount"],
        "amountMinor": stream.first("tool_result").data["result"]["__frontendAction"]["amountMinor"],
        "currency": stream.first("tool_result").data["result"]["__frontendAction"]["currency"],
        "description": stream.first("tool_result").data["result"]["__frontendAction"]["description"],
        "status": "pending", "orderStatus": None}
    assert stream.first("tool_start").data["tool"] == "initiatePayment"
    assert stream.first("tool_executing").data["args"] == {"orderType": "order", "orderId": order["id"]}
    result = stream.first("tool_result").data
    assert result["tool"] == "initiatePayment" and result["success"] is True and "error" not in result
    action = result["result"]["__frontendAction"]
    assert (action["type"], action["orderId"], action["orderType"], action["amount"], action["currency"]) == \
        ("payment", order["id"], "order", 25, "USD")
    assert action["payUrl"].startswith(f"{openai_server.base_url}/pay/")
    assert stream.first("done").data["toolCalls"] == 1
    assert stream.text == "Let me prepare that.Your payment card is ready: click Pay to confirm it."

    second = model.requests[1]["messages"]
    assistant, tool = second[-2], second[-1]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["function"]["name"] == "initiatePayment"
    assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert '<untrusted-tool-data tool="initiatePayment" status="ok">\nPayment prepared, nothing charged yet' in tool["content"]
    assert action["payUrl"] not in model.sent_text()  # the pay link is the buyer's, on the card


def test_a_failed_tool_call_is_reported_to_the_ui_and_the_model(openai_server: LiveServer,
                                                                 model: ScriptedModel) -> None:
    model.replies = [[Call("getOrder", {"orderId": "00000000-0000-4000-8000-000000000000"})],
                     [Say("I could not find that order.")]]
    with openai_server.client("alice") as alice:
        stream = stream_turn(alice, "show order 0000")
    result = stream.first("tool_result").data
    assert result["success"] is False and "Record not found" in result["error"]
    assert '<untrusted-tool-data tool="getOrder" status="error">\nError:' in model.requests[1]["messages"][-1]["content"]
    assert stream.names[-1] == "done"


def test_keep_alive_comments_flow_while_the_model_is_slow(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Pause(1.0), Say("Done thinking.")]]
    with openai_server.client("alice") as alice:
        stream = stream_turn(alice, "think hard")
    assert stream.comments >= 2 and stream.names[-1] == "done"


def test_a_provider_error_ends_the_stream_with_error(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Fail(500)]]
    with openai_server.client("alice") as alice:
        stream = stream_turn(alice, "hi")
    assert stream.names == ["start", "error"]
    assert stream.frames[-1].data == {"message": "The assistant is unavailable: the model endpoint answered HTTP 500."}


def test_an_error_inside_the_model_stream_ends_the_turn_with_error(openai_server: LiveServer,
                                                                   model: ScriptedModel) -> None:
    model.replies = [[Say("Let me see"), Fail(mid_stream=True)]]
    with openai_server.client("alice") as alice:
        stream = stream_turn(alice, "hi")
    assert collapsed(stream.names) == ["start", "text", "error"]
    assert "sk-test-key" not in stream.frames[-1].data["message"]


def test_a_model_that_keeps_calling_tools_is_stopped_after_the_round_limit(openai_server: LiveServer,
                                                                           model: ScriptedModel) -> None:
    model.replies = [[Call("listSavedCards", {})] for _ in range(20)]
    with openai_server.client("alice") as alice:
        stream = stream_turn(alice, "loop forever")
    assert len(model.requests) == 8 and len(stream.all("tool_result")) == 8
    assert "I stopped here" in stream.text and stream.names[-1] == "done"
    assert stream.frames[-1].data["toolCalls"] == 8
