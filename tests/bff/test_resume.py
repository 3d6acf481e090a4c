"""A client that loses the stream reconnects with `Last-Event-ID` and gets the rest of the turn,
while it runs or after it ended, on this replica or another sharing the database; a client
that never comes back has its turn cancelled cleanly."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg
import httpx
from sqlalchemy import make_url

from bff.turns import new_turn_id, turn_started
from tests.bff.support import Pause, Say, ScriptedModel, Stream, read_frames, stream_turn
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


@contextmanager
def turn_writes_held(server: LiveServer) -> Iterator[Callable[[], None]]:
    """Another client holding the database so that no turn row can be written (reads go on), as
    behind a slow disk or a long transaction, until the `release()` it yields (or the end)."""
    url = make_url(server.settings.resolved_database_url(server.runtime.app.codename))
    if url.get_backend_name() == "sqlite":  # its one write lock
        holder = sqlite3.connect(url.database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")

        def release() -> None:
            if holder.in_transaction:
                holder.execute("ROLLBACK")

        try:
            yield release
        finally:
            release()
            holder.close()
        return
    locked, released = threading.Event(), threading.Event()

    async def hold() -> None:
        connection = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE bff_turn IN SHARE MODE")  # inserts wait, reads do not
                locked.set()
                while not released.is_set():
                    await asyncio.sleep(0.01)
        finally:
            await connection.close()

    holder_thread = threading.Thread(target=asyncio.run, args=(hold(),))
    holder_thread.start()
    try:
        assert locked.wait(10)
        yield released.set
    finally:
        released.set()
        holder_thread.join()


def test_start_goes_out_before_the_commit_and_another_replica_waits_for_it(
        openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Say("First part."), Pause(0.3), Say("Second part.")]]
    replica = LiveServer.start(openai_server.settings, openai_server.factory)
    resumed: list[Stream] = []
    try:
        with httpx.Client(base_url=replica.base_url, timeout=30,
                          headers={"Authorization": f"Bearer {openai_server.token('alice')}"}) as elsewhere:
            with turn_writes_held(openai_server):
                with openai_server.client("alice") as alice:
                    first = stream_turn(alice, "tell me a story", stop_after=1)  # `start`, nothing committed
                conversation = elsewhere.get(f"/api/chat/conversations/{first.frames[0].data['conversationId']}")
                assert conversation.status_code == 404  # not in the database yet
                resuming = threading.Thread(target=lambda: resumed.append(
                    stream_turn(elsewhere, None, last_event_id=first.frames[0].id)))
                resuming.start()
                time.sleep(0.8)  # the other replica waits for the turn, rather than answering 204
            resuming.join(30)
    finally:
        replica.stop()
    turn_id = first.frames[0].id.split(":")[0]
    rest = resumed[0]
    assert rest.status == 200 and rest.names[-1] == "done", rest
    assert [frame.id for frame in rest.frames] == [f"{turn_id}:{n}" for n in range(1, len(rest.frames) + 1)]
    assert "".join(f.data["content"] for f in rest.frames if f.event == "text") == "First part.Second part."


def test_another_replica_stops_a_turn_not_yet_committed(openai_server: LiveServer, model: ScriptedModel) -> None:
    model.replies = [[Say("Starting."), Pause(3), Say("Never said.")]]
    replica = LiveServer.start(openai_server.settings, openai_server.factory)
    answers: list[httpx.Response] = []
    try:
        with httpx.Client(base_url=replica.base_url, timeout=30,
                          headers={"Authorization": f"Bearer {openai_server.token('alice')}"}) as elsewhere, \
                openai_server.client("alice") as alice, turn_writes_held(openai_server) as release, \
                alice.stream("POST", "/api/chat/stream", json={"message": "long job"}) as response:
            frames = (frame for frame in read_frames(response.iter_lines()) if frame is not None)
            start = next(frames)
            turn_id = start.id.split(":")[0]
            stopping = threading.Thread(target=lambda: answers.append(elsewhere.post(f"/api/chat/turns/{turn_id}/stop")))
            stopping.start()
            time.sleep(0.5)  # the stop waits for the turn's row, rather than answering 404
            release()
            rest = list(frames)
            stopping.join(30)
    finally:
        replica.stop()
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json() == {"turnId": turn_id, "status": "stopped"}
    assert rest[-1].event == "stopped" and "Never said." not in str(rest)


def test_a_turn_id_carries_its_start_time() -> None:
    before = time.time()
    turn_id = new_turn_id()
    started = turn_started(turn_id)
    assert turn_id.version == 7 and turn_id.variant == uuid.RFC_4122
    assert started is not None and before - 0.002 <= started <= time.time()
    assert turn_started(uuid.uuid4()) is None  # ids of turns started before: no start time, no waiting
