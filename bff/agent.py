"""The tool loop of one turn: ask the model, run the tools it calls, feed the results back,
until it answers without tools or the round limit is reached.

Every step is reported through `emit` as the chat events of the BFF contract
(`text`, `tool_start`, `tool_executing`, `tool_result`); `messages` keeps the
turn's complete rounds, so whatever happens the conversation stays one a model
can read again (no tool call without its result).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bff.mcp_client import ToolOutcome, ToolSession
from bff.messages import Message
from bff.providers import ModelRequest, ModelTool, Provider, TextDelta, ToolCallReady, ToolCallStarted

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class ToolLoop:
    def __init__(self, provider: Provider, tools: ToolSession, system: str, history: list[Message], emit: Emit,
                 *, max_rounds: int) -> None:
        self.provider, self.tools, self.system, self.history, self.emit = provider, tools, system, history, emit
        self.max_rounds = max_rounds
        self.messages: list[Message] = []  # this turn's complete rounds
        self.tool_calls = 0

    async def run(self) -> None:
        model_tools = [ModelTool(t.name, t.tool.description or t.tool.title or t.name, t.tool.input_schema)
                       for t in self.tools.tools]
        for _ in range(self.max_rounds):
            text: list[str] = []
            calls: list[ToolCallReady] = []
            request = ModelRequest(self.system, self.history + self.messages, model_tools)
            async for event in self.provider.stream(request):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    await self.emit("text", {"content": event.text})
                elif isinstance(event, ToolCallStarted):
                    await self.emit("tool_start", {"tool": event.name, "callId": event.id})
                else:
                    calls.append(event)
            answer = Message("assistant", "".join(text), tuple(ready.call for ready in calls))
            if not calls:
                self.messages.append(answer)
                return
            results = [await self._run(ready) for ready in calls]
            self.messages += [answer, *results]
        note = (f"\n\nI stopped here: this request needed more than {self.max_rounds} rounds of tool calls. "
                "Ask me to continue if you want me to go on.")
        await self.emit("text", {"content": note})
        self.messages.append(Message("assistant", note.strip()))

    async def _run(self, ready: ToolCallReady) -> Message:
        call = ready.call
        await self.emit("tool_executing", {"tool": call.name, "args": call.arguments, "callId": call.id})
        self.tool_calls += 1
        if ready.problem:
            outcome = ToolOutcome.failed(f"{call.name} was not called: {ready.problem}")
        else:
            outcome = await self.tools.call(call.name, call.arguments)
        shown: dict[str, Any] = {"tool": call.name, "callId": call.id, "result": outcome.ui_result,
                                 "success": outcome.ok}
        if outcome.error is not None:
            shown["error"] = outcome.error
        await self.emit("tool_result", shown)
        return Message("tool", outcome.model_text, tool_call_id=call.id, tool_name=call.name, is_error=not outcome.ok,
                       data=outcome.model_data, ui={**shown, "args": call.arguments})
