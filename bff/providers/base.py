"""What every model provider takes and yields, so the tool loop need not know which one runs."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from bff.messages import Message, ToolCall


@dataclass(frozen=True)
class ModelTool:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    system: str
    messages: list[Message]
    tools: list[ModelTool]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The model began writing a call: its name is known, its arguments are not yet."""

    id: str
    name: str


@dataclass(frozen=True)
class ToolCallReady:
    call: ToolCall
    problem: str | None = None  # set when the arguments the model wrote are unusable


ModelEvent = TextDelta | ToolCallStarted | ToolCallReady


class ProviderError(Exception):
    """A model call failed; `message` is safe to show the user (no keys, no request bodies)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@contextmanager
def sdk_errors(sdk: ModuleType) -> Iterator[None]:
    """The official SDKs (`openai`, `anthropic`) share their error classes' names: one mapping
    turns either's failures into a ProviderError the user may read."""
    try:
        yield
    except sdk.APIStatusError as exc:
        raise ProviderError(f"the model endpoint answered HTTP {exc.status_code}") from exc
    except sdk.APITimeoutError as exc:
        raise ProviderError("the model endpoint did not answer in time") from exc
    except sdk.APIConnectionError as exc:
        raise ProviderError("the model endpoint cannot be reached") from exc
    except sdk.APIError as exc:  # an error event inside the stream
        raise ProviderError("the model failed while answering") from exc


class Provider(Protocol):
    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """One model response: text deltas and tool calls, in the order the model wrote them."""
        ...

    async def aclose(self) -> None: ...


def parse_arguments(call_id: str, name: str, raw: str) -> ToolCallReady:
    """A tool call from the JSON text a model streamed (empty text: no arguments)."""
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return ToolCallReady(ToolCall(call_id, name, {}), problem="the arguments are not valid JSON")
    if not isinstance(arguments, dict):
        return ToolCallReady(ToolCall(call_id, name, {}), problem="the arguments must be a JSON object")
    return ToolCallReady(ToolCall(call_id, name, arguments))
