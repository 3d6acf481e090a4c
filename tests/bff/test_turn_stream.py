"""How a turn's events reach a follower (`TurnHub.follow`): in batches, each one write to the
client. The end of an answer waits for the turn's last event, which waits for its commit, and
goes out with it: when the client reads the last words, the conversation is already readable.
Each event is written as the SSE library writes a frame.

The system is built as `orderpay serve` builds it and started (its lifespan), not served on a port.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import json
import uuid

import pytest
from fastapi import FastAPI
from sse_starlette import ServerSentEvent

from orderpay import create_server
from bff.chat_api import _frame
from bff.settings import ChatSettings
from bff.turns import ChatEvent
from payment_core.identity import find_demo_user
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def system(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(request, backend, "store", tmp_path)
    app = create_server(settings, chat=ChatSettings(chat_provider="offline"))
    async with app.router.lifespan_context(app):
        yield app


async def test_the_end_of_an_answer_goes_out_with_done_once_committed(system: FastAPI) -> None:
    hub, store = system.state.chat, system.state.chat.store
    alice = find_demo_user("alice")
    assert alice is not None
    token = system.state.runtime.issuer.issue(alice)
    turn = await hub.start(alice, token, "list my orders", None)
    batches: list[list[str]] = []
    stored_at_last_batch: list[str] = []
    async for batch in hub.follow(turn):
        batches.append([event.name for event in batch])
        if batch[-1].name == "done":  # what a client could read the moment it reads the answer's end
            stored_at_last_batch = [event.name for event in await store.events_after(turn.id, -1)]
            messages = await store.messages(turn.conversation_id)
    names = [name for batch in batches for name in batch]
    assert names[0] == "start" and names[-1] == "done" and "tool_result" in names
    answer = names.index("text", names.index("tool_result"))
    assert batches[-1][-len(names[answer:]):] == names[answer:]  # the answer, then done: one write
    assert stored_at_last_batch == names
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"] and messages[-1].text


@pytest.mark.parametrize("data", [{"content": "two\nlines\r\nand a \"quote\", \\ é \u2028 \u0000"},
                                  {"tool": "listOrders", "result": {"orders": [{"total": 1.5, "note": None}]}}])
def test_an_event_is_written_as_the_sse_library_writes_it(data: dict[str, object]) -> None:
    event = ChatEvent(uuid.uuid4(), 7, "text", data)
    library = ServerSentEvent(data=json.dumps(data, ensure_ascii=False, separators=(",", ":")), event=event.name,
                              id=event.id).encode()
    assert _frame(event).encode() == library
