"""What the frontend dialects (the AI SDK UI message stream, AG-UI) share: the conversation a
client's chat or thread id names, and starting a turn in it from the user's last message.

Clients name their chats themselves (`useChat`'s `id`, AG-UI's `threadId`), with any string.
orderpay keeps the conversation, so only the new user message of a request is used; the
history the client sends is its own copy of what the server already has (and what a client
sends as assistant or tool messages never reaches the model). A chat id that is the id of one
of the user's conversations continues it; any other id names a conversation of that user
only, derived from the user and the id, so two users' equal ids never meet.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from payment_core.api.auth import bearer_token
from payment_core.errors import BadInput
from payment_core.identity import Session
from bff.storage import ChatStore
from bff.turns import ChatEvent, LiveTurn, TurnHub

_CLIENT_CHATS = uuid.UUID("6f1b7c1e-8d3a-4f7e-9a51-2c0e6d4b9f10")  # namespace of client-named conversations
MAX_CHAT_ID = 200
MAX_MESSAGE = 8000


async def conversation_of(store: ChatStore, session: Session, chat_id: str) -> uuid.UUID:
    """The conversation a client's chat id names for this user (see the module docstring)."""
    if not chat_id or len(chat_id) > MAX_CHAT_ID:
        raise BadInput(f"id: required, at most {MAX_CHAT_ID} characters", field="id")
    user_id = uuid.UUID(session.user_id)
    try:
        own = uuid.UUID(chat_id)
    except ValueError:
        own = None
    if own is not None and await store.conversation(user_id, own) is not None:
        return own
    return uuid.uuid5(_CLIENT_CHATS, f"{user_id}\n{chat_id}")


async def start_turn(hub: TurnHub, store: ChatStore, request: Request, session: Session, chat_id: str,
                     text: str) -> LiveTurn:
    """Start a turn with the user's `text` in the conversation `chat_id` names, created if new."""
    text = text.strip()
    if not text or len(text) > MAX_MESSAGE:
        raise BadInput(f"messages: the last user message needs text, at most {MAX_MESSAGE} characters",
                       field="messages")
    conversation_id = await conversation_of(store, session, chat_id)
    token = bearer_token(request.headers.get("authorization"))
    # The AI SDK resumes by chat id, not event id: its turn must be in the database before `start`.
    return await hub.start(session, token, text, conversation_id, create=True, commit_first=True)


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def encoded(batches: AsyncIterator[list[ChatEvent]], encode: Callable[[ChatEvent], list[str]],
                  closing: list[str] | None = None) -> AsyncIterator[bytes]:
    """SSE `data:` frames of what `encode` makes of each event, a batch of events in one chunk (one
    write); a client that leaves closes the turn's follower at once (the turn runs on for the
    resume grace period)."""
    async with aclosing(batches):
        async for batch in batches:
            if chunk := _data_frames(data for event in batch for data in encode(event)):
                yield chunk
    if closing and (chunk := _data_frames(closing)):
        yield chunk


def _data_frames(items: Iterable[str]) -> bytes:
    return b"".join(ServerSentEvent(data=data, sep="\n").encode() for data in items)


def sse_response(frames: AsyncIterator[bytes], *, keepalive_seconds: float,
                 headers: dict[str, str] | None = None) -> EventSourceResponse:
    """Frames separated by bare `\n`, as the AI SDK writes them: AG-UI's client splits on `\n\n`."""
    return EventSourceResponse(frames, ping=keepalive_seconds, sep="\n",
                               headers={"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})})
