"""The chat backend in its host application: the chat API under `/api` (and its frontend
dialects), the tools API, and the turns, store and MCP clients they run on.

The composition root (`orderpay.create_server`) adds it beside the REST API, `/mcp` and the web
UI. In one process the chat backend reaches orderpay's MCP server in-process (`own_mcp`, which
the composition root passes in: the server authenticates each request with the user's token as
its HTTP endpoint does); without it, over streamable HTTP at the public URL, as it would reach it
on another host. Extra servers (`ORDERPAY_MCP_SERVERS`) are always reached over HTTP.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import anyio
from fastapi import FastAPI

from payment_core.runtime import Runtime
from bff.ag_ui import ag_ui_router
from bff.ai_sdk import ai_sdk_router
from bff.chat_api import chat_router
from bff.mcp_client import McpConnector, McpManager
from bff.prompts import system_prompt
from bff.providers import build_provider
from bff.settings import ChatSettings, McpServerConfig
from bff.storage import ChatStore, WriteBehind, chat_tables
from bff.tools_api import tools_router
from bff.turns import TurnHub

log = logging.getLogger("orderpay.bff")


def add_chat_backend(app: FastAPI, runtime: Runtime, chat: ChatSettings, *,
                     own_mcp: McpConnector | None = None) -> Callable[[], AbstractAsyncContextManager[None]]:
    """Route the chat backend into `app`; returns its `running()`, to keep entered (inside the
    runtime's lifespan and `/mcp`'s) while serving. `own_mcp`: orderpay's MCP server in this
    process, reached without HTTP."""
    # Created with the app's tables by the runtime's start-up.
    store = ChatStore(runtime.engine, chat_tables(runtime.metadata), WriteBehind(runtime.db))
    own = McpServerConfig("orderpay", f"{runtime.settings.resolved_public_url()}/mcp")
    mcp = McpManager([own, *chat.mcp_servers], list_timeout=chat.mcp_list_timeout_seconds,
                     tool_timeout=chat.chat_tool_timeout_seconds,
                     in_process={own.name: own_mcp} if own_mcp is not None else None)
    provider = build_provider(chat, runtime.app)
    hub = TurnHub(chat=chat, store=store, mcp=mcp, provider=provider, system=system_prompt(runtime.app))
    app.include_router(chat_router(hub, store, keepalive_seconds=chat.chat_keepalive_seconds))
    # The same turns in the frontend frameworks' dialects (docs/frontends.md).
    app.include_router(ai_sdk_router(hub, store, keepalive_seconds=chat.chat_keepalive_seconds))
    app.include_router(ag_ui_router(hub, store, keepalive_seconds=chat.chat_keepalive_seconds))
    app.include_router(tools_router(mcp))
    app.state.chat = hub

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(provider.aclose)
            await stack.enter_async_context(mcp.running())
            group = await stack.enter_async_context(anyio.create_task_group())
            group.start_soon(store.writer.run)
            stack.callback(store.writer.close)  # after the hub below has ended its turns
            await stack.enter_async_context(hub.running())
            log.info("chat backend ready", extra={"provider": provider.name,
                                                  "mcpServers": [s.name for s in mcp.servers],
                                                  "inProcess": sorted(mcp.in_process)})
            yield

    return running
