"""AG-UI (`POST /api/ag-ui`): a turn as an AG-UI run, for CopilotKit and other AG-UI clients.

A thin encoder over the turn's events, with the `ag-ui-protocol` package's event types:
`RUN_STARTED`, a `CUSTOM` `orderpay.turn` event naming the turn (its id is what
`POST /api/chat/turns/{turnId}/stop` takes), `TEXT_MESSAGE_START/CONTENT/END`,
`TOOL_CALL_START/ARGS/END/RESULT` (the result's content is the JSON the native stream's
`tool_result` carries, with `__frontendAction` for the pay card), `STATE_SNAPSHOT` when a
payment appears and `STATE_DELTA` (JSON Patch) as its state changes, both under the state
key `payments`, and `RUN_FINISHED` (a stopped turn: outcome `cancelled`) or `RUN_ERROR`.

The client's `threadId` names the conversation (see `bff.frontends`); the new message is the
last user message; the client's `tools`, `state` and `context` are not used (the assistant's
tools are the MCP servers', and frontend tools could not be trusted with payments anyway).
"""
from __future__ import annotations

from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from fastapi import APIRouter, Body, Depends, Request
from sse_starlette import EventSourceResponse

from payment_core.api.auth import current_session
from payment_core.errors import BadInput
from payment_core.identity import Session
from bff.frontends import compact, encoded, sse_response, start_turn
from bff.payment_watch import PAYMENT_EVENT
from bff.storage import ChatStore
from bff.turns import ChatEvent, TurnHub

TURN_EVENT = "orderpay.turn"


def last_user_text(run: RunAgentInput) -> str:
    for message in reversed(run.messages):
        message = getattr(message, "root", message)
        if getattr(message, "role", None) != "user":
            continue
        content = message.content
        if isinstance(content, str):
            return content
        return "".join(getattr(getattr(part, "root", part), "text", "") or "" for part in content)
    raise BadInput("messages: no user message", field="messages")


class AgUiEncoder:
    """Turn events to AG-UI events; a pure function of the event sequence, like the AI SDK's."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        self.thread_id, self.run_id = thread_id, run_id
        self.message_id: str | None = None  # the open text message
        self.step_message_id: str | None = None  # this model call's text message: its tool calls' parent
        self.payments: dict[str, dict[str, Any]] = {}
        self.started_calls: set[str] = set()

    def encode(self, event: ChatEvent) -> list[str]:
        return [e.model_dump_json(by_alias=True, exclude_none=True) for e in self.events(event)]

    def events(self, event: ChatEvent) -> list[BaseEvent]:
        data, out = event.data, []
        if event.name == "start":
            out += [RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id),
                    CustomEvent(name=TURN_EVENT, value={"turnId": str(event.turn_id), **data})]
        elif event.name == "text":
            if self.message_id is None:
                self.message_id = self.step_message_id = f"{event.turn_id}:{event.seq}"
                out.append(TextMessageStartEvent(message_id=self.message_id, role="assistant"))
            out.append(TextMessageContentEvent(message_id=self.message_id, delta=data["content"]))
        elif event.name == "tool_start":
            out += self._end_text() + self._start_call(data)
        elif event.name == "tool_executing":
            out += self._end_text() + self._start_call(data)
            out += [ToolCallArgsEvent(tool_call_id=data["callId"], delta=compact(data.get("args", {}))),
                    ToolCallEndEvent(tool_call_id=data["callId"])]
        elif event.name == "tool_result":
            self.step_message_id = None  # the next text is the next model call's
            shown = {k: v for k, v in data.items() if k in ("tool", "result", "success", "error")}
            out.append(ToolCallResultEvent(message_id=f"{event.turn_id}:{event.seq}", tool_call_id=data["callId"],
                                           role="tool", content=compact(shown)))
        elif event.name == PAYMENT_EVENT:
            known = data["id"] in self.payments
            self.payments[data["id"]] = data
            if known:
                out.append(StateDeltaEvent(delta=[{"op": "replace", "path": f"/payments/{data['id']}", "value": data}]))
            else:
                out.append(StateSnapshotEvent(snapshot={"payments": dict(self.payments)}))
        elif event.name == "done":
            out += self._end_text()
            out.append(RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id,
                                        result={"turnId": str(event.turn_id), **data}))
        elif event.name == "stopped":
            out += self._end_text()
            out.append(RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id,
                                        result={"turnId": str(event.turn_id), **data},
                                        outcome=RunFinishedCancelledOutcome()))
        elif event.name == "error":
            out += self._end_text()
            out.append(RunErrorEvent(message=data["message"], code="chat_failed"))
        return out

    def _start_call(self, data: dict[str, Any]) -> list[BaseEvent]:
        if data["callId"] in self.started_calls:
            return []
        self.started_calls.add(data["callId"])
        return [ToolCallStartEvent(tool_call_id=data["callId"], tool_call_name=data["tool"],
                                   parent_message_id=self.step_message_id)]

    def _end_text(self) -> list[BaseEvent]:
        if self.message_id is None:
            return []
        ended, self.message_id = self.message_id, None
        return [TextMessageEndEvent(message_id=ended)]


def ag_ui_router(hub: TurnHub, store: ChatStore, *, keepalive_seconds: float) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["chat: AG-UI"])

    @router.post("/ag-ui", summary="Run a turn as an AG-UI run", response_class=EventSourceResponse,
                 description="Takes AG-UI's `RunAgentInput`; `threadId` names the conversation and the last user "
                             "message is the new one. Answers AG-UI events as server-sent events.")
    async def run(request: Request, body: dict[str, Any] = Body(...), session: Session = Depends(current_session)
                  ) -> EventSourceResponse:
        try:
            agent_input = RunAgentInput.model_validate(body)
        except ValueError as exc:
            raise BadInput(f"not an AG-UI RunAgentInput: {str(exc).splitlines()[0]}") from None
        turn = await start_turn(hub, store, request, session, agent_input.thread_id, last_user_text(agent_input))
        encoder = AgUiEncoder(agent_input.thread_id, agent_input.run_id)
        return sse_response(encoded(hub.follow(turn), encoder.encode), keepalive_seconds=keepalive_seconds)

    return router
