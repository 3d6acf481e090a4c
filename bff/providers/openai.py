"""Any OpenAI-compatible chat completions endpoint (OpenAI, Ollama, vLLM, …), streamed through
the official `openai` SDK, with tools as functions."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai

from bff.messages import Message
from bff.providers.base import ModelEvent, ModelRequest, TextDelta, ToolCallStarted, parse_arguments, sdk_errors
from bff.providers.framing import frame_tool_result


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class OpenAIProvider:
    name = "openai"

    def __init__(self, *, api_key: str | None, base_url: str | None, model: str, timeout: float,
                 max_retries: int) -> None:
        self.model = model
        # Local servers (Ollama, vLLM) take no key, but the SDK wants one.
        self.client = openai.AsyncOpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout,
                                         max_retries=max_retries)

    async def aclose(self) -> None:
        await self.client.close()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        tools = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                   "parameters": t.input_schema}} for t in request.tools]
        calls: dict[int, _PartialCall] = {}
        with sdk_errors(openai):
            stream = await self.client.chat.completions.create(
                model=self.model, messages=wire_messages(request.system, request.messages), stream=True,
                **({"tools": tools} if tools else {}))
            async with stream:  # closes the HTTP response if the turn is cancelled mid-stream
                async for chunk in stream:
                    for choice in chunk.choices:
                        if choice.delta.content:
                            yield TextDelta(choice.delta.content)
                        for delta in choice.delta.tool_calls or ():
                            partial = calls.setdefault(delta.index, _PartialCall())
                            partial.id = partial.id or (delta.id or "")
                            function = delta.function
                            if function and function.name and not partial.name:
                                partial.name = function.name
                                yield ToolCallStarted(partial.id or f"call_{delta.index}", partial.name)
                            if function and function.arguments:
                                partial.arguments += function.arguments
        for index in sorted(calls):
            partial = calls[index]
            yield parse_arguments(partial.id or f"call_{index}", partial.name, partial.arguments)


def wire_messages(system: str, messages: list[Message]) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for message in messages:
        if message.role == "user":
            wire.append({"role": "user", "content": message.text})
        elif message.role == "assistant":
            if not message.text and not message.tool_calls:
                continue
            entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                entry["tool_calls"] = [{"id": c.id, "type": "function",
                                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                                       for c in message.tool_calls]
            wire.append(entry)
        else:
            wire.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": frame_tool_result(message)})
    return wire
