"""Conversations are stored, continued with their history, listed, read and deleted by their
owner only: another user's conversation is as unknown as a missing one."""
from __future__ import annotations

from tests.bff.support import Say, ScriptedModel, stream_turn
from tests.support import LiveServer


def test_a_conversation_continues_with_its_history_and_is_stored(openai_server: LiveServer,
                                                                 model: ScriptedModel) -> None:
    model.replies = [[Say("Hi Alice.")], [Say("You said hello first.")]]
    with openai_server.client("alice") as alice:
        first = stream_turn(alice, "hello")
        conversation_id = first.frames[0].data["conversationId"]
        second = stream_turn(alice, "what did I say first?", conversation_id=conversation_id)
        listed = alice.get("/api/chat/conversations").json()["conversations"]
        stored = alice.get(f"/api/chat/conversations/{conversation_id}").json()

    assert second.frames[0].data["conversationId"] == conversation_id
    assert [(m["role"], m["content"]) for m in model.requests[1]["messages"][1:]] == [
        ("user", "hello"), ("assistant", "Hi Alice."), ("user", "what did I say first?")]
    assert listed[0]["id"] == conversation_id and listed[0]["title"] == "hello" and listed[0]["messageCount"] == 4
    assert stored["provider"] == "openai" and [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "hello"), ("assistant", "Hi Alice."), ("user", "what did I say first?"),
        ("assistant", "You said hello first.")]


def test_the_whole_turn_as_json(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Say("Short answer.")]]
    with openai_server.client("alice") as alice:
        answer = alice.post("/api/chat", json={"message": "be brief"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["message"], body["provider"], body["toolCalls"]) == ("Short answer.", "openai", [])
    assert body["conversationId"] and body["turnId"] and isinstance(body["processingTime"], int)


def test_another_users_conversation_is_not_found(openai_server: LiveServer, model: ScriptedModel) -> None:
    with openai_server.client("alice") as alice:
        conversation_id = stream_turn(alice, "private chat").frames[0].data["conversationId"]
    with openai_server.client("bob") as bob:
        assert bob.get(f"/api/chat/conversations/{conversation_id}").status_code == 404
        assert bob.delete(f"/api/chat/conversations/{conversation_id}").status_code == 404
        continued = stream_turn(bob, "let me in", conversation_id=conversation_id)
        assert conversation_id not in [c["id"] for c in bob.get("/api/chat/conversations").json()["conversations"]]
    assert continued.status == 404 and continued.frames[0].data["message"] == "Conversation not found"
    with openai_server.client("alice") as alice:
        assert alice.get(f"/api/chat/conversations/{conversation_id}").status_code == 200


def test_the_owner_deletes_a_conversation(openai_server: LiveServer, model: ScriptedModel) -> None:
    with openai_server.client("alice") as alice:
        conversation_id = stream_turn(alice, "to be forgotten").frames[0].data["conversationId"]
        assert alice.delete(f"/api/chat/conversations/{conversation_id}").status_code == 204
        assert alice.get(f"/api/chat/conversations/{conversation_id}").status_code == 404
        assert alice.delete(f"/api/chat/conversations/{conversation_id}").status_code == 404


def test_chat_needs_a_valid_token_and_a_message(openai_server: LiveServer, model: ScriptedModel) -> None:
    with openai_server.client() as anonymous:
        refused = anonymous.post("/api/chat/stream", json={"message": "hi"})
    with openai_server.client("alice") as alice:
        empty = alice.post("/api/chat/stream", json={"message": ""})
        nothing = alice.post("/api/chat/stream")
    assert refused.status_code == 401 and refused.json()["result"] == "ERR"
    assert empty.status_code == 400 and nothing.status_code == 400
    assert model.requests == []
