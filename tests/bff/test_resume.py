"""A client that loses the stream reconnects with `Last-Event-ID` and gets the rest of the turn,
while it runs or after it ended, on this replica or another sharing the database; a client
that never comes back has its turn cancelled cleanly."""
from __future__ import annotations

import time
import uuid

import httpx

from tests.bff.support import Pause, Say, ScriptedModel, stream_turn
from tests.support import LiveServer

SLOW_ANSWER = [Say("First part."), Pause(0.6), Say("Second part."), Pause(0.6), Say("Third part.")]


def test_a_dropped_stream_resumes_with_the_rest_of_the_turn(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [list(SLOW_ANSWER)]
    with openai_server.client("alice") as alice:
        first = stream_turn(alice, "tell me a long story", stop_after=2)  # start and the first text, then gone
        rest = stream_turn(alice, None, last_event_id=first.frames[-1].id)

    assert first.names == ["start", "text"]
    whole = first.frames + rest.frames
    turn = first.frames[0].id.split(":")[0]
    assert [frame.id for frame in whole] == [f"{turn}:{n}" for n in range(len(whole))]
    assert rest.names[-1] == "done" and "start" not in rest.names
    assert "".join(f.data["content"] for f in whole if f.event == "text") == "First part.Second part.Third part."
    assert model.disconnects == 0  # the turn went on: the model's stream was never cut


def test_a_finished_turn_is_replayed_from_storage(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Say("All done here.")]]
    with openai_server.client("alice") as alice:
        whole = stream_turn(alice, "hello")
        replay = stream_turn(alice, None, last_event_id=whole.frames[0].id)
        nothing_left = stream_turn(alice, None, last_event_id=whole.frames[-1].id)
    assert replay.frames == whole.frames[1:]
    assert (nothing_left.status, nothing_left.frames) == (204, [])  # an EventSource stops reconnecting


def test_a_turn_nobody_comes_back_for_is_cancelled(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Say("Starting."), Pause(5), Say("Never said.")]]
    with openai_server.client("alice") as alice:
        gone = stream_turn(alice, "long job", stop_after=2)
        deadline = time.monotonic() + 10
        while model.disconnects == 0 and time.monotonic() < deadline:  # the grace period is 1.5 s here
            time.sleep(0.05)
        assert model.disconnects == 1  # the model's stream was closed: the turn stopped working
        time.sleep(0.3)
        rest = stream_turn(alice, None, last_event_id=gone.frames[-1].id)
        conversation = alice.get(f"/api/chat/conversations/{gone.frames[0].data['conversationId']}").json()
    assert rest.names == ["error"]
    assert rest.frames[0].data == {"message": "The turn was cancelled: its client went away."}
    assert [m["role"] for m in conversation["messages"]] == ["user"]


def test_another_replica_resumes_a_turn_from_the_database(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [list(SLOW_ANSWER)]
    replica = LiveServer.start(openai_server.settings, openai_server.factory)  # same database, same signing key
    try:
        with openai_server.client("alice") as alice:
            first = stream_turn(alice, "tell me a long story", stop_after=2)
        with httpx.Client(base_url=replica.base_url, timeout=30,
                          headers={"Authorization": f"Bearer {openai_server.token('alice')}"}) as elsewhere:
            rest = stream_turn(elsewhere, None, last_event_id=first.frames[-1].id)
    finally:
        replica.stop()
    assert rest.names[-1] == "done", (rest.frames[-1], model.disconnects)
    assert rest.frames[0].id == f"{first.frames[0].id.split(':')[0]}:2"
    assert "".join(f.data["content"] for f in first.frames + rest.frames if f.event == "text") == \
        "First part.Second part.Third part."
    assert model.disconnects == 0


def test_someone_elses_turn_cannot_be_resumed(openai_server: LiveServer, model: ScriptedModel) -> None:
    with openai_server.client("alice") as alice:
        whole = stream_turn(alice, "hello")
    with openai_server.client("bob") as bob:
        refused = stream_turn(bob, None, last_event_id=whole.frames[0].id)
        malformed = stream_turn(bob, None, last_event_id="not-an-id")
        unknown = stream_turn(bob, None, last_event_id=f"{uuid.uuid4()}:0")
    # Someone else's turn reads as an unknown one: nothing to resume, and its existence is not told.
    assert (refused.status, refused.frames) == (204, []) == (unknown.status, unknown.frames)
    assert malformed.status == 400
