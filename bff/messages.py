"""A conversation as the chat backend keeps it, whatever model reads it.

Each provider turns these into its own wire format. A tool message holds what
the model may see of a tool result (already scrubbed, see `bff.scrub`) and,
apart, what the chat UI shows; only the first ever reaches a model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Message:
    role: Role
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    # tool messages only:
    tool_call_id: str | None = None
    tool_name: str | None = None
    is_error: bool = False
    data: Any = None  # the scrubbed structured result the model's text was written from
    ui: dict[str, Any] | None = field(default=None, compare=False)  # what the chat UI shows; never sent to a model

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"role": self.role, "text": self.text}
        if self.tool_calls:
            body["toolCalls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls]
        if self.role == "tool":
            body.update(toolCallId=self.tool_call_id, tool=self.tool_name, isError=self.is_error, data=self.data,
                        ui=self.ui)
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Message:
        return cls(
            role=body["role"],
            text=body.get("text", ""),
            tool_calls=tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in body.get("toolCalls", ())),
            tool_call_id=body.get("toolCallId"),
            tool_name=body.get("tool"),
            is_error=body.get("isError", False),
            data=body.get("data"),
            ui=body.get("ui"),
        )


def user(text: str) -> Message:
    return Message("user", text)


def last_user_index(messages: list[Message]) -> int:
    """Where the current request starts: the last user message (-1 when there is none)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return -1
