"""`/api/chat`: a turn streamed as server-sent events or answered whole, and the user's conversations."""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from payment_core.api.auth import bearer_token, context_of, current_session
from payment_core.contract import error_body
from payment_core.errors import BadInput, NotFound
from payment_core.identity import Session
from bff.messages import Message
from bff.storage import TERMINAL_EVENTS, ChatStore
from bff.turns import ChatEvent, LiveTurn, TurnHub


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=8000, description="What the user wrote.")
    conversationId: uuid.UUID | None = Field(None, description="Continue this conversation; none starts a new one.")


def chat_router(hub: TurnHub, store: ChatStore, *, keepalive_seconds: float) -> APIRouter:
    router = APIRouter(prefix="/api/chat", tags=["chat"])

    async def start(request: Request, session: Session, body: ChatRequest) -> LiveTurn:
        token = bearer_token(request.headers.get("authorization"))
        return await hub.start(session, token, body.message, body.conversationId)

    @router.post("/stream", summary="Run a turn, streamed as server-sent events",
                 response_class=EventSourceResponse,
                 description="Events: `start`, then `text`, `tool_start`, `tool_executing`, `tool_result`, `payment`, "
                             "then `done`, `error` or `stopped`. Each has an id; send it back as `Last-Event-ID` (body "
                             "optional) to get the rest of that turn after a lost connection: 204 when nothing is "
                             "left (the turn ended there, or is unknown), which tells an EventSource to stop.")
    async def stream(request: Request, body: ChatRequest | None = Body(None),
                     last_event_id: str | None = Header(None), session: Session = Depends(current_session)
                     ) -> Response:
        if last_event_id:
            resumed = await hub.resume(session, last_event_id)
            if resumed is None:
                return Response(status_code=204)
            events = resumed
        elif body is None:
            raise BadInput("message: required")
        else:
            events = hub.follow(await start(request, session, body))
        return EventSourceResponse(_frames(events), ping=keepalive_seconds)

    @router.post("", summary="Run a turn and answer it whole")
    async def chat(request: Request, body: ChatRequest, session: Session = Depends(current_session)) -> Any:
        turn = await start(request, session, body)
        text: list[str] = []
        calls: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {}
        last: ChatEvent | None = None
        async with aclosing(hub.follow(turn)) as batches:
            async for batch in batches:
                for event in batch:
                    if event.name == "text":
                        text.append(event.data["content"])
                    elif event.name == "tool_executing":
                        arguments[event.data["callId"]] = event.data["args"]
                    elif event.name == "tool_result":
                        calls.append({**event.data, "args": arguments.get(event.data["callId"], {})})
                    elif event.name in TERMINAL_EVENTS:
                        last = event
        assert last is not None  # a followed turn always ends with one of them
        if last.name == "error":
            body_ = error_body(502, last.data["message"], code="chat_failed", request_id=context_of(request).request_id,
                               details={"conversationId": str(turn.conversation_id), "turnId": str(turn.id)})
            return JSONResponse(body_, 502)
        return {"conversationId": str(turn.conversation_id), "turnId": str(turn.id), "provider": turn.provider,
                "message": "".join(text), "toolCalls": calls, "processingTime": last.data["processingTime"],
                "stopped": last.name == "stopped"}

    @router.post("/turns/{turn_id}/stop", summary="Stop a running turn",
                 description="Cancels the turn at once, wherever it runs: its stream ends with `stopped` (AI SDK: "
                             "`abort`; AG-UI: `RUN_FINISHED` with a cancelled outcome) and it keeps its complete "
                             "rounds. Answers the turn's status; a turn already over is left as it was. Only the "
                             "turn's owner may stop it (others: 404).")
    async def stop(turn_id: uuid.UUID, session: Session = Depends(current_session)) -> dict[str, Any]:
        return {"turnId": str(turn_id), "status": await hub.stop(session, turn_id)}

    @router.get("/conversations", summary="The user's conversations, most recent first")
    async def conversations(limit: int = Query(50, ge=1, le=200),
                            session: Session = Depends(current_session)) -> dict[str, Any]:
        return {"conversations": await store.conversations(uuid.UUID(session.user_id), limit)}

    @router.get("/conversations/{conversation_id}", summary="One conversation with its messages")
    async def conversation(conversation_id: uuid.UUID, session: Session = Depends(current_session)) -> dict[str, Any]:
        found = await store.conversation(uuid.UUID(session.user_id), conversation_id)
        if found is None:
            raise NotFound("Conversation not found")
        return {**found, "messages": [ui_message(m) for m in await store.messages(conversation_id)]}

    @router.delete("/conversations/{conversation_id}", status_code=204, summary="Delete a conversation")
    async def delete(conversation_id: uuid.UUID, session: Session = Depends(current_session)) -> Response:
        user_id = uuid.UUID(session.user_id)
        if await store.conversation(user_id, conversation_id) is None:
            raise NotFound("Conversation not found")
        for turn in [t for t in hub.live.values() if t.conversation_id == conversation_id]:
            turn.scope.cancel()
            with anyio.move_on_after(10):
                while not turn.finished:
                    await anyio.sleep(0.02)
        if not await store.delete_conversation(user_id, conversation_id):
            raise NotFound("Conversation not found")
        return Response(status_code=204)

    return router


async def _frames(batches: AsyncIterator[list[ChatEvent]]) -> AsyncIterator[bytes]:
    """Each batch of events as its frames in one chunk: one write to the client, not one per event."""
    async with aclosing(batches):  # a client that leaves closes the turn's follower at once
        async for batch in batches:
            yield "".join(map(_frame, batch)).encode()


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _frame(event: ChatEvent) -> str:
    """The event as an SSE frame, as sse-starlette's `ServerSentEvent` writes it (with its
    separator, CRLF), without its line splitting: no field can hold a line break (JSON escapes
    them, the id is a UUID and a number, the event names are fixed words)."""
    return f"id: {event.id}\r\nevent: {event.name}\r\ndata: {_to_json(event.data)}\r\n\r\n"


def ui_message(message: Message) -> dict[str, Any]:
    """A stored message as the chat UI shows it (tool messages: what `tool_result` carried)."""
    if message.role == "tool":
        return {"role": "tool", **(message.ui or {"tool": message.tool_name, "callId": message.tool_call_id,
                                                 "success": not message.is_error})}
    shown: dict[str, Any] = {"role": message.role, "content": message.text}
    if message.tool_calls:
        shown["toolCalls"] = [{"callId": c.id, "tool": c.name, "args": c.arguments} for c in message.tool_calls]
    return shown
