"""Anthropic's Messages API, streamed through the official `anthropic` SDK, with tools."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic

from bff.messages import Message
from bff.providers.base import ModelEvent, ModelRequest, TextDelta, ToolCallStarted, parse_arguments, sdk_errors
from bff.providers.framing import frame_tool_result


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, *, api_key: str | None, base_url: str | None, model: str, max_tokens: int, timeout: float,
                 max_retries: int) -> None:
        self.model, self.max_tokens = model, max_tokens
        self.client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, timeout=timeout,
                                               max_retries=max_retries)

    async def aclose(self) -> None:
        await self.client.close()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        tools = [{"name": t.name, "description": t.description, "input_schema": t.input_schema}
                 for t in request.tools]
        calls: dict[int, tuple[str, str, list[str]]] = {}  # block index -> id, name, JSON fragments
        with sdk_errors(anthropic):
            stream = await self.client.messages.create(
                model=self.model, max_tokens=self.max_tokens, system=request.system,
                messages=wire_messages(request.messages), stream=True, **({"tools": tools} if tools else {}))
            async with stream:  # closes the HTTP response if the turn is cancelled mid-stream
                async for event in stream:
                    if event.type == "content_block_start" and event.content_block.type == "tool_use":
                        block = event.content_block
                        calls[event.index] = (block.id, block.name, [])
                        yield ToolCallStarted(block.id, block.name)
                    elif event.type == "content_block_delta":
                        if event.delta.type == "text_delta" and event.delta.text:
                            yield TextDelta(event.delta.text)
                        elif event.delta.type == "input_json_delta" and event.index in calls:
                            calls[event.index][2].append(event.delta.partial_json)
                    elif event.type == "content_block_stop" and event.index in calls:
                        call_id, name, fragments = calls.pop(event.index)
                        yield parse_arguments(call_id, name, "".join(fragments))


def wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Anthropic's alternating turns: tool results travel in the next user message, and
    consecutive messages of one role (a turn that failed before the answer) are merged."""
    wire: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})

    for message in messages:
        if message.role == "user":
            add("user", [{"type": "text", "text": message.text}] if message.text else [])
        elif message.role == "assistant":
            blocks: list[dict[str, Any]] = [{"type": "text", "text": message.text}] if message.text else []
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                       for c in message.tool_calls]
            add("assistant", blocks)
        else:
            add("user", [{"type": "tool_result", "tool_use_id": message.tool_call_id,
                          "content": frame_tool_result(message), "is_error": message.is_error}])
    return wire
