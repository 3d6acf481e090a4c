"""The Vercel AI SDK's UI message stream (protocol v1), what `useChat` and `DefaultChatTransport`
read: `POST /api/ai-sdk/chat` runs a turn, `GET /api/ai-sdk/chat/{id}/stream` resumes the
chat's running turn (from its start: the SDK's `resumeStreamIsReplay`) or answers 204.

A thin encoder over the turn's events (`UIMessageEncoder`): each model call is a step; text
is a text part; each tool call is a `tool-{name}` part whose output, for `initiatePayment`,
carries the `__frontendAction` the pay card renders from (secrets removed as for the native
stream); each `payment` event is a `data-payment` part updated in place by its id. The turn's
`start` chunk carries `{conversationId, turnId, provider}` as message metadata: `turnId` is
what `POST /api/chat/turns/{turnId}/stop` takes, which is how a client's Stop reaches the
server (aborting the fetch alone leaves the turn running for the resume grace period).
"""
from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from payment_core.api.auth import current_session
from payment_core.errors import BadInput
from payment_core.identity import Session
from bff.frontends import compact, conversation_of, encoded, sse_response, start_turn
from bff.payment_watch import PAYMENT_EVENT
from bff.storage import ChatStore
from bff.turns import ChatEvent, TurnHub

HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
DONE = "[DONE]"


class UIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    role: Literal["system", "user", "assistant"]
    parts: list[dict[str, Any]] = Field(default_factory=list)


class ChatRequest(BaseModel):
    """The body `DefaultChatTransport` sends (extra fields of `body` options are ignored)."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=200, description="The chat's id, chosen by the client.")
    messages: list[UIMessage] = Field(min_length=1, max_length=1000)
    trigger: Literal["submit-message", "regenerate-message"] = "submit-message"
    messageId: str | None = None


def last_user_text(messages: list[UIMessage]) -> str:
    """The text parts of the last user message: the new message of this request. For
    `regenerate-message` it is the message asked again (the client has removed the answer)."""
    for message in reversed(messages):
        if message.role == "user":
            return "".join(part.get("text", "") for part in message.parts
                           if part.get("type") == "text" and isinstance(part.get("text"), str))
    raise BadInput("messages: no user message", field="messages")


class UIMessageEncoder:
    """Turn events to UI message chunks. Stateful (open step, open text part), and a pure
    function of the event sequence, so a replayed turn encodes to the same chunks."""

    def __init__(self) -> None:
        self.step_open = False
        self.tools_ran = False  # a tool result ended the model call of the open step
        self.text_id: str | None = None
        self.started_calls: set[str] = set()

    def encode(self, event: ChatEvent) -> list[str]:
        return [compact(chunk) for chunk in self.chunks(event)]

    def chunks(self, event: ChatEvent) -> list[dict[str, Any]]:
        data, out = event.data, []
        if event.name == "start":
            out.append({"type": "start", "messageId": str(event.turn_id),
                        "messageMetadata": {"conversationId": data["conversationId"], "turnId": str(event.turn_id),
                                            "provider": data.get("provider")}})
        elif event.name == "text":
            out += self._step(new_call=True)
            if self.text_id is None:
                self.text_id = f"text-{event.seq}"
                out.append({"type": "text-start", "id": self.text_id})
            out.append({"type": "text-delta", "id": self.text_id, "delta": data["content"]})
        elif event.name == "tool_start":
            out += self._step(new_call=True) + self._end_text()
            self.started_calls.add(data["callId"])
            out.append({"type": "tool-input-start", "toolCallId": data["callId"], "toolName": data["tool"]})
        elif event.name == "tool_executing":
            out += self._step(new_call=False) + self._end_text()
            if data["callId"] not in self.started_calls:
                self.started_calls.add(data["callId"])
                out.append({"type": "tool-input-start", "toolCallId": data["callId"], "toolName": data["tool"]})
            out.append({"type": "tool-input-available", "toolCallId": data["callId"], "toolName": data["tool"],
                        "input": data.get("args", {})})
        elif event.name == "tool_result":
            self.tools_ran = True
            if data.get("success"):
                out.append({"type": "tool-output-available", "toolCallId": data["callId"], "output": data.get("result")})
            else:
                out.append({"type": "tool-output-error", "toolCallId": data["callId"],
                            "errorText": data.get("error") or "the tool failed"})
        elif event.name == PAYMENT_EVENT:
            out.append({"type": "data-payment", "id": data["id"], "data": data})
        elif event.name == "done":
            out += self._close() + [{"type": "finish", "finishReason": "stop", "messageMetadata": {
                "conversationId": data["conversationId"], "turnId": str(event.turn_id),
                "toolCalls": data.get("toolCalls"), "processingTime": data.get("processingTime")}}]
        elif event.name == "error":
            out += self._close() + [{"type": "error", "errorText": data["message"]},
                                    {"type": "finish", "finishReason": "error"}]
        elif event.name == "stopped":
            out += self._close() + [{"type": "abort", "reason": data.get("message", "Stopped.")}]
        return out

    def _step(self, *, new_call: bool) -> list[dict[str, Any]]:
        """Open a step when none is; a model call after tool results is a new step."""
        out: list[dict[str, Any]] = []
        if self.step_open and new_call and self.tools_ran:
            out += self._close()
        if not self.step_open:
            self.step_open, self.tools_ran = True, False
            out.append({"type": "start-step"})
        return out

    def _end_text(self) -> list[dict[str, Any]]:
        if self.text_id is None:
            return []
        ended, self.text_id = self.text_id, None
        return [{"type": "text-end", "id": ended}]

    def _close(self) -> list[dict[str, Any]]:
        out = self._end_text()
        if self.step_open:
            self.step_open = False
            out.append({"type": "finish-step"})
        return out


def ai_sdk_router(hub: TurnHub, store: ChatStore, *, keepalive_seconds: float) -> APIRouter:
    router = APIRouter(prefix="/api/ai-sdk", tags=["chat: AI SDK"])

    def respond(events: Any) -> EventSourceResponse:
        encoder = UIMessageEncoder()
        return sse_response(encoded(events, encoder.encode, [DONE]), keepalive_seconds=keepalive_seconds,
                            headers=HEADERS)

    @router.post("/chat", summary="Run a turn as an AI SDK UI message stream",
                 response_class=EventSourceResponse,
                 description="The body `useChat`/`DefaultChatTransport` sends (`id`, `messages`, `trigger`); the "
                             "last user message is the new one. Answers the UI message stream protocol v1.")
    async def chat(request: Request, body: ChatRequest, session: Session = Depends(current_session)
                   ) -> EventSourceResponse:
        turn = await start_turn(hub, store, request, session, body.id, last_user_text(body.messages))
        return respond(hub.follow(turn))

    @router.get("/chat/{chat_id}/stream", summary="Resume the chat's running turn",
                response_class=EventSourceResponse,
                description="The running turn's stream from its start (the AI SDK replays it), or 204 when no "
                            "turn of this chat is running.")
    async def resume(chat_id: str, session: Session = Depends(current_session)) -> Response:
        conversation_id: uuid.UUID = await conversation_of(store, session, chat_id)
        active = await hub.active(session, conversation_id)
        if active is None:
            return Response(status_code=204)
        return respond(active[1])

    return router
