"""How orderpay's tools are declared and turned into the SDK's tools.

A tool here is a handler `(session, arguments) -> CallToolResult` plus the JSON
schemas it publishes. Schemas come from the app spec at run time, so tools are
built as SDK `Tool` objects rather than from function signatures, and each
handler validates its own arguments: a mistake then reads `field: problem`, in
the REST API's words, instead of a pydantic report. Domain errors become tool
errors (`isError: true`) with their plain message; anything unexpected is left
to the SDK, which logs it and tells the model only that the tool failed.
"""
from __future__ import annotations

import contextvars

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

from payment_core.errors import OrderPayError
from payment_core.identity import Session
from payment_core.spec.inputs import bad_input_from, check_storable

Handler = Callable[[Session, dict[str, Any]], Awaitable[CallToolResult]]
SessionOf = Callable[[Context], Awaitable[Session]]
"""Who is calling: from the HTTP request's bearer token, or the token stdio was started with."""

ModelT = TypeVar("ModelT", bound=BaseModel)

_APPS_CLIENT: contextvars.ContextVar[bool] = contextvars.ContextVar("orderpay_apps_client", default=False)

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
ADDITIVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    annotations: ToolAnnotations
    handler: Handler
    meta: dict[str, Any] | None = None


class RawArguments(ArgModelBase):
    """Passes the arguments through untouched, for the handler to validate (see the module docstring)."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


# Who is calling a tool, for the payment audit trail: the MCP client, and the chat's conversation and
# turn when its backend names them (the call's `_meta` `orderpay/conversationId` and `orderpay/turnId`,
# or the X-Orderpay-Conversation-Id / X-Orderpay-Turn-Id headers).
tool_caller: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("orderpay_tool_caller", default={})

# The caller of an in-process request (`mcp_server.inproc`), verified from its bearer token for that request
# alone: set around the request, in the caller's own task, and unset everywhere else.
in_process_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "orderpay_in_process_session", default=None)


def _caller_of(ctx: Context) -> dict[str, Any]:
    caller: dict[str, Any] = {}
    try:
        params = ctx.request_context.session.client_params
        if params is not None:
            caller["mcpClient"] = f"{params.client_info.name} {params.client_info.version}"[:200]
    except Exception:  # an SDK without these fields: the entry just says less
        pass
    try:  # the chat backend names the turn in the call's `_meta`
        meta = ctx.request_context.meta or {}
        for name, key in (("orderpay/conversationId", "conversationId"), ("orderpay/turnId", "turnId")):
            if isinstance(meta.get(name), str):
                caller[key] = meta[name][:100]
    except Exception:
        pass
    try:
        request = ctx.request_context.request
        headers = getattr(request, "headers", None) or {}
        for header, key in (("x-orderpay-conversation-id", "conversationId"), ("x-orderpay-turn-id", "turnId")):
            if headers.get(header):
                caller[key] = str(headers[header])[:100]
        caller["transport"] = ("http" if request is not None
                               else "in-process" if in_process_session.get() is not None else "stdio")
    except Exception:
        caller.setdefault("transport", "stdio")
    return caller


def sdk_tool(spec: ToolSpec, session_of: SessionOf) -> Tool:
    """The SDK tool that runs `spec.handler` for the caller `session_of` names."""

    async def run(ctx: Context, arguments: dict[str, Any]) -> CallToolResult:
        caller = tool_caller.set(_caller_of(ctx))
        renders = _APPS_CLIENT.set(client_supports_apps(ctx))
        try:
            return await spec.handler(await session_of(ctx), arguments)
        except OrderPayError as exc:
            raise ToolError(exc.message) from None
        finally:
            tool_caller.reset(caller)
            _APPS_CLIENT.reset(renders)

    return Tool(
        fn=run,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=spec.input_schema,
        fn_metadata=FuncMetadata(arg_model=RawArguments, output_schema=spec.output_schema),
        is_async=True,
        context_kwarg="ctx",
        annotations=spec.annotations.model_copy(update={"title": spec.title}),  # some clients read it here
        meta=spec.meta,
    )


def parse_arguments(model: type[ModelT], arguments: dict[str, Any]) -> ModelT:
    """`arguments` validated by `model`, or `BadInput` naming the first wrong field."""
    for name, value in arguments.items():
        check_storable(value, name)
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        raise bad_input_from(exc.errors()) from None


def tool_result(summary: str, data: dict[str, Any]) -> CallToolResult:
    """A sentence for the model, the same data as JSON text (for clients that ignore
    `structuredContent`, as the MCP spec recommends) and as `structuredContent`."""
    as_json = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(
        content=[TextContent(type="text", text=summary), TextContent(type="text", text=as_json)],
        structured_content=data,
    )


def client_renders_apps() -> bool:
    """Whether the client calling the running tool negotiated MCP Apps (it renders the tool's UI)."""
    return _APPS_CLIENT.get()


def ui_tool_result(model_text: str, data: dict[str, Any], *, text_only_fallback: str) -> CallToolResult:
    """A UI-bound tool's result, separated as the MCP Apps specification (2026-01-26) says when
    the client renders Apps: `content` is what the model reads, `structuredContent` what the UI
    renders (hosts keep it out of the model's context). A client without Apps gets
    `text_only_fallback` and the JSON twin, as `tool_result` gives, since its text is all it shows."""
    if client_renders_apps():
        return CallToolResult(content=[TextContent(type="text", text=model_text)], structured_content=data)
    return tool_result(text_only_fallback, data)


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema as a tool input schema, without pydantic's generated titles."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema
