"""A frontend built with the Vercel AI SDK (`ai` 6, what `useChat` runs) points at orderpay: it
reads a whole turn with the pay card's tool part and the payment's state as the buyer pays,
resumes a turn after a reload, and stops a turn."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx

from payment_core.spec import load_app
from tests.bff.support import Call, Pause, Say, ScriptedModel, Until, new_order, pay_in_the_trusted_ui, stream_turn
from tests.frontends.conftest import drive
from tests.support import LiveServer


def order_type(server: LiveServer) -> str:
    return load_app(server.settings.app).spec.order_objects()[0][1].name


class BuyerPaysMeanwhile:
    """The buyer paying in the trusted UI (over REST, in a thread) once the model is asked again
    (the payment card is out), while the model's next answer waits at `Until(self.paid)`."""

    def __init__(self, server: LiveServer, model: ScriptedModel, order_id: str) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._pay, args=(server, model, order_id))
        self.thread.start()

    def paid(self) -> bool:
        return self.done.is_set()

    def _pay(self, server: LiveServer, model: ScriptedModel, order_id: str) -> None:
        try:
            deadline = time.monotonic() + 20
            while len(model.requests) < 2:  # the turn is running: the model was asked again after the tool
                if time.monotonic() > deadline:
                    raise AssertionError("the turn never reached its second model call: nothing to pay meanwhile")
                time.sleep(0.02)
            pay_in_the_trusted_ui(server, "alice", order_id)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self.done.set()

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def test_use_chat_reads_a_turn_with_the_pay_card_and_the_payment_as_it_is_paid(
        chat_server: LiveServer, model: ScriptedModel, node_clients: Path) -> None:
    order = new_order(chat_server, "alice")
    kind = order_type(chat_server)
    # The buyer pays in the trusted UI while the assistant is still writing its answer.
    buyer = BuyerPaysMeanwhile(chat_server, model, order["id"])
    model.replies = [[Say("Let me prepare that."), Call("initiatePayment", {"orderType": kind, "orderId": order["id"]})],
                     [Say("Click Pay on the card."), Until(buyer.paid), Pause(0.5), Say("Thanks!")]]
    seen = drive(node_clients, chat_server, "alice", "aiTurn", chatId="shop-chat-1", text="pay my order")
    buyer.join()

    types = [chunk["type"] for chunk in seen["chunks"]]
    assert types[:2] == ["start", "start-step"] and types[-2:] == ["finish-step", "finish"]
    assert types.count("start-step") == 2 == types.count("finish-step")  # two model calls
    message = seen["message"]
    assert message["role"] == "assistant"
    assert message["metadata"]["turnId"] == message["id"]
    texts = [part["text"] for part in message["parts"] if part["type"] == "text"]
    assert texts == ["Let me prepare that.", "Click Pay on the card.Thanks!"]

    (tool,) = [part for part in message["parts"] if part["type"] == "tool-initiatePayment"]
    assert tool["state"] == "output-available"
    assert tool["input"] == {"orderType": kind, "orderId": order["id"]}
    action = tool["output"]["__frontendAction"]
    assert (action["type"], action["orderId"], action["orderType"]) == ("payment", order["id"], kind)
    assert action["payUrl"].startswith(chat_server.base_url + "/pay/")  # the buyer's card shows it

    # One data-payment part, updated in place: prepared, then paid while the stream was open.
    payments = [part for part in message["parts"] if part["type"] == "data-payment"]
    assert len(payments) == 1 and payments[0]["id"] == f"payment-{kind}-{order['id']}"
    assert seen["paymentStates"] == ["pending", "paid"]
    assert payments[0]["data"]["status"] == "paid"
    assert payments[0]["data"]["amountMinor"] == action["amountMinor"]
    assert "payUrl" not in payments[0]["data"]

    # The model was never sent the pay link, and the turn is one conversation like any other.
    assert "/pay/" not in model.sent_text()
    with chat_server.client("alice") as alice:
        stored = alice.get(f"/api/chat/conversations/{message['metadata']['conversationId']}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "tool", "assistant"]


def test_use_chat_resumes_a_running_turn_after_a_reload_and_then_hears_204(
        chat_server: LiveServer, model: ScriptedModel, node_clients: Path) -> None:
    model.replies = [[Say("First part."), Pause(0.8), Say("Second part.")]]
    seen = drive(node_clients, chat_server, "alice", "aiDropAndResume", chatId="reloaded-chat", text="a long story")
    assert [chunk["type"] for chunk in seen["before"]][-1] == "text-delta"
    assert seen["resumed"] is True
    # The resumed stream replays the turn from its start (the transport's resumeStreamIsReplay).
    texts = [part["text"] for part in seen["message"]["parts"] if part["type"] == "text"]
    assert texts == ["First part.Second part."]
    assert seen["chunks"][0]["type"] == "start" and seen["chunks"][-1]["type"] == "finish"
    assert model.disconnects == 0  # the turn ran on while nobody listened

    after = drive(node_clients, chat_server, "alice", "aiResume", chatId="reloaded-chat")
    assert after == {"resumed": False}  # 204: nothing is running in that chat
    # Another user's chat of the same name is another conversation: nothing to resume there either.
    assert drive(node_clients, chat_server, "bob", "aiResume", chatId="reloaded-chat") == {"resumed": False}


def test_stop_ends_a_running_turn_within_a_second(chat_server: LiveServer, model: ScriptedModel,
                                                  node_clients: Path) -> None:
    model.replies = [[Say("Starting."), Pause(8), Say("Never said.")]]
    seen = drive(node_clients, chat_server, "alice", "aiStop", chatId="stopped-chat", text="a slow job")

    assert seen["stopAnswer"] == {"status": 200, "body": {"turnId": seen["turnId"], "status": "stopped"}}
    assert seen["msFromStopToEnd"] < 1000
    types = [chunk["type"] for chunk in seen["chunks"]]
    assert types[-3:] == ["text-end", "finish-step", "abort"]
    assert "Never said." not in str(seen["message"])
    deadline = time.monotonic() + 5
    while model.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert model.disconnects == 1  # the model's stream was cut: the turn stopped working

    with chat_server.client("alice") as alice:
        stored = stream_turn(alice, None, last_event_id=f"{seen['turnId']}:0")  # the stored turn, replayed
        again = alice.post(f"/api/chat/turns/{seen['turnId']}/stop")
        resumed = alice.get("/api/ai-sdk/chat/stopped-chat/stream")
    assert stored.names[-1] == "stopped" and stored.frames[-1].data["message"] == "Stopped."
    assert again.json() == {"turnId": seen["turnId"], "status": "stopped"}  # stopping it again changes nothing
    assert resumed.status_code == 204 and resumed.content == b""


def test_only_the_owner_can_stop_a_turn(chat_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Say("Working."), Pause(1.5), Say("Done.")]]
    with chat_server.client("alice") as alice, chat_server.client("bob") as bob:
        with alice.stream("POST", "/api/chat/stream", json={"message": "work"}) as response:
            lines = response.iter_lines()
            start = next(line for line in lines if line.startswith("id:"))
            turn_id = start.split(":", 1)[1].strip().split(":")[0]
            refused = bob.post(f"/api/chat/turns/{turn_id}/stop")
            unknown = bob.post("/api/chat/turns/0e7d2b0c-59a7-4d7e-9d1e-3f0b8d2b6a11/stop")
            rest = list(lines)
    assert refused.status_code == 404 and refused.json()["message"] == "Turn not found"
    assert unknown.status_code == 404
    assert "event: done" in rest  # bob's request changed nothing


def test_a_bad_ai_sdk_request_changes_nothing(chat_server: LiveServer, model: ScriptedModel) -> None:
    with chat_server.client("alice") as alice:
        before = alice.get("/api/chat/conversations").json()["conversations"]
        no_user = alice.post("/api/ai-sdk/chat", json={"id": "c", "messages": [
            {"id": "a", "role": "assistant", "parts": [{"type": "text", "text": "hi"}]}], "trigger": "submit-message"})
        empty = alice.post("/api/ai-sdk/chat", json={"id": "c", "messages": [
            {"id": "u", "role": "user", "parts": [{"type": "file", "url": "x", "mediaType": "image/png"}]}]})
        listed = alice.get("/api/chat/conversations").json()["conversations"]
    with httpx.Client(base_url=chat_server.base_url) as anonymous:
        signed_out = anonymous.post("/api/ai-sdk/chat", json={"id": "c", "messages": [
            {"id": "u", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]})
    assert no_user.status_code == 400 and no_user.json()["result"] == "ERR"
    assert no_user.json()["message"] == "messages: no user message"
    assert empty.status_code == 400 and "needs text" in empty.json()["message"]
    assert signed_out.status_code == 401
    assert listed == before  # no conversation started, no turn ran


def test_stop_reaches_a_turn_running_on_another_replica(chat_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Say("Starting."), Pause(8), Say("Never said.")]]
    replica = LiveServer.start(chat_server.settings, chat_server.factory)  # same database, same signing key
    try:
        with chat_server.client("alice") as alice:
            with alice.stream("POST", "/api/chat/stream", json={"message": "a slow job"}) as response:
                lines = response.iter_lines()
                turn_id = next(line for line in lines if line.startswith("id:")).split(":", 1)[1].strip().split(":")[0]
                with httpx.Client(base_url=replica.base_url, timeout=30,
                                  headers={"Authorization": f"Bearer {chat_server.token('alice')}"}) as elsewhere:
                    asked = time.monotonic()
                    answer = elsewhere.post(f"/api/chat/turns/{turn_id}/stop")
                    took = time.monotonic() - asked
                rest = list(lines)
    finally:
        replica.stop()
    assert answer.status_code == 200 and answer.json() == {"turnId": turn_id, "status": "stopped"}
    assert took < 2.5  # the running replica looks for stop requests every 0.5 s
    assert "event: stopped" in rest and "Never said." not in "\n".join(rest)


def test_two_first_requests_of_one_new_chat_at_once_start_one_turn(chat_server: LiveServer,
                                                                   model: ScriptedModel) -> None:
    model.replies = [[Say("Working."), Pause(0.5), Say("Done.")]]
    body = {"id": "double-click-chat", "trigger": "submit-message",
            "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hello twice"}]}]}

    async def both() -> list[tuple[int, str]]:
        headers = {"Authorization": f"Bearer {chat_server.token('alice')}"}
        async with httpx.AsyncClient(base_url=chat_server.base_url, headers=headers, timeout=30) as client:
            async def send() -> tuple[int, str]:
                answer = await client.post("/api/ai-sdk/chat", json=body)
                return answer.status_code, answer.text
            first, second = await asyncio.gather(send(), send())
            return sorted([first, second])

    (ok, stream), (refused, error) = asyncio.run(both())
    assert (ok, refused) == (200, 409)
    assert '"type":"finish"' in stream and "a turn is already running" in error
    with chat_server.client("alice") as alice:
        titles = [c["title"] for c in alice.get("/api/chat/conversations").json()["conversations"]]
    assert titles.count("hello twice") == 1
