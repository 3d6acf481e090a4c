"""The MCP servers the assistant uses, reached with the user's own bearer token.

orderpay's MCP server comes first, then any extra servers from settings. Each
user gets one client per server, kept open between turns and shared by that
user's concurrent turns: a client learns the server's tools and compiles their
output schemas once (tens of milliseconds each), not on every turn. A client
unused for `IDLE_SECONDS` is closed; one whose server failed is dropped and a
new one is connected on the next use, after a backoff (doubling, up to a minute)
during which new turns leave that server out. Each server's health is kept for
`GET /api/tools/status`.

A server may be reached in-process instead (`McpConnector`): orderpay's own server in the
one-process deployment, wired by the composition root; the clients, sessions and results are
the same, only the transport differs.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import anyio
import httpx2
from anyio.abc import TaskGroup
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, DiscoverResult, Tool
from mcp_types.jsonrpc import CONNECTION_CLOSED

from payment_core import metrics
from bff import scrub
from bff.settings import McpServerConfig

log = logging.getLogger("orderpay.bff.mcp")

FIRST_BACKOFF_SECONDS = 2.0
IDLE_SECONDS = 300.0  # a user's client unused this long is closed
MAX_CLIENTS = 2000  # open clients at most; beyond, the least recently used idle ones are closed
TOOLS_TTL_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 60.0
_MODEL_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")  # what OpenAI and Anthropic accept in a tool name


@dataclass
class ServerHealth:
    name: str
    url: str
    healthy: bool | None = None  # None: not contacted yet
    tool_count: int = 0
    protocol_version: str | None = None
    last_error: str | None = None
    last_ok_at: datetime | None = None
    last_checked_at: datetime | None = None
    retry_at: float = 0.0  # monotonic; skipped by new sessions until then
    backoff: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "url": self.url, "healthy": self.healthy, "toolCount": self.tool_count,
            "protocolVersion": self.protocol_version, "lastError": self.last_error,
            "lastOkAt": _iso(self.last_ok_at), "lastCheckedAt": _iso(self.last_checked_at),
        }


@dataclass(frozen=True)
class CatalogTool:
    """A tool as the model and the tools API name it: `name` is namespaced when it clashes."""

    name: str
    server: str
    original_name: str
    tool: Tool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "server": self.server, "originalName": self.original_name,
                "title": self.tool.title, "description": self.tool.description or "",
                "inputSchema": self.tool.input_schema}


@dataclass(frozen=True)
class ToolOutcome:
    """One call's result, already split into what the model reads and what the UI shows."""

    ok: bool
    model_text: str
    model_data: Any = None
    ui_result: Any = None
    error: str | None = None

    @classmethod
    def failed(cls, message: str) -> ToolOutcome:
        return cls(ok=False, model_text=f"Error: {message}", error=message)

    @classmethod
    def of(cls, result: CallToolResult) -> ToolOutcome:
        if result.is_error:
            message = scrub.error_message(result)
            return cls(ok=False, model_text=f"Error: {message}", ui_result=scrub.for_ui(result), error=message)
        text, data = scrub.for_model(result)
        return cls(ok=True, model_text=text, model_data=data, ui_result=scrub.for_ui(result))


class McpConnector(Protocol):
    """Opens clients of an MCP server without HTTP: the server runs in this process. The server
    authenticates each request with the token, as its HTTP endpoint does."""

    def client(self, token: str, on_refused: Callable[[], None]) -> Client:
        """An un-entered client acting for `token`; `on_refused()` when the server refuses the token."""
        ...


class McpManager:
    def __init__(self, servers: list[McpServerConfig], *, list_timeout: float, tool_timeout: float,
                 in_process: Mapping[str, McpConnector] | None = None) -> None:
        self.servers = servers
        self.in_process = dict(in_process or {})  # server name -> connector; the others are reached over HTTP
        self.list_timeout, self.tool_timeout = list_timeout, tool_timeout
        self.health = {server.name: ServerHealth(server.name, server.url) for server in servers}
        self._discovered: dict[str, DiscoverResult | None] = {}  # None: a handshake-era server
        self._clients: dict[tuple[str, str], _UserClient] = {}
        self._group: TaskGroup | None = None
        # One connection pool for every user's clients: the token travels in each client's headers.
        self._transport = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=200,
                                                                         max_keepalive_connections=100))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Keep entered while serving: the users' clients live in its tasks."""
        async with anyio.create_task_group() as group:
            self._group = group
            group.start_soon(self._close_idle_clients)
            try:
                yield
            finally:
                self._group = None
                for client in self._clients.values():
                    client.close()
                group.cancel_scope.cancel()
        await self._transport.aclose()

    def session(self, token: str) -> ToolSession:
        """The user's tool session; use as `async with`."""
        return ToolSession(self, token)

    def force_retry(self) -> None:
        """Let the next session try every server, in backoff or not, with fresh tool lists."""
        for health in self.health.values():
            health.retry_at = 0.0
        for client in self._clients.values():
            client.listed_at = 0.0

    def status(self) -> list[dict[str, Any]]:
        return [self.health[server.name].to_json() for server in self.servers]

    async def client(self, server: McpServerConfig, token: str) -> _UserClient | None:
        """The user's open client of `server` (connecting it if needed), or None when the server is
        in backoff or cannot be reached now."""
        if self.health[server.name].retry_at > time.monotonic() or self._group is None:
            return None
        key = (server.name, hashlib.sha256(token.encode()).hexdigest())
        user_client = self._clients.get(key)
        if user_client is None:
            user_client = self._clients[key] = _UserClient(self, server, token)
            self._group.start_soon(user_client.serve)
        if not user_client.ready.is_set():  # connected by an earlier turn: no timer to set
            with anyio.move_on_after(self.list_timeout):
                await user_client.ready.wait()
        if user_client.client is None:
            self.drop(user_client, user_client.error or "no answer in time")
            return None
        return user_client

    def drop(self, user_client: _UserClient, error: str) -> None:
        """Close a client that failed. Unless the server refused only this user's token, hold new
        sessions off that server for a while."""
        self.retire(user_client)
        if user_client.refused_token:
            log.info("MCP server refused a user's token", extra={"server": user_client.server.name})
        else:
            self.record_failure(user_client.server, error)

    def retire(self, user_client: _UserClient) -> None:
        """Close a client; sessions from now on get a new one."""
        user_client.close()
        self._clients = {k: v for k, v in self._clients.items() if v is not user_client}

    def open_client(self, server: McpServerConfig, token: str, on_refused: Callable[[], None]) -> Client:
        connector = self.in_process.get(server.name)
        if connector is not None:
            return connector.client(token, on_refused)

        async def watch(response: httpx2.Response) -> None:
            if response.status_code in (401, 403):
                on_refused()

        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, transport=self._transport,
                                  timeout=httpx2.Timeout(self.tool_timeout, connect=5.0),
                                  event_hooks={"response": [watch]})
        transport = streamable_http_client(server.url, http_client=http)
        if server.name not in self._discovered:
            return Client(transport, mode="auto")
        discovered = self._discovered[server.name]
        if discovered is None:
            return Client(transport, mode="legacy")
        # What the server said about itself before: no discovery round trip for each new user.
        return Client(transport, mode=discovered.supported_versions[-1], prior_discover=discovered)

    def record_success(self, server: McpServerConfig, client: Client, tool_count: int | None = None) -> None:
        if server.name not in self._discovered:
            self._discovered[server.name] = client.session.discover_result
        health = self.health[server.name]
        now = datetime.now(timezone.utc)
        health.healthy, health.last_error, health.last_ok_at, health.last_checked_at = True, None, now, now
        health.protocol_version, health.backoff, health.retry_at = client.protocol_version, 0.0, 0.0
        if tool_count is not None:
            health.tool_count = tool_count

    def record_failure(self, server: McpServerConfig, error: str) -> None:
        health = self.health[server.name]
        health.healthy, health.last_error = False, error
        health.last_checked_at = datetime.now(timezone.utc)
        health.backoff = min(MAX_BACKOFF_SECONDS, health.backoff * 2 or FIRST_BACKOFF_SECONDS)
        health.retry_at = time.monotonic() + health.backoff
        self._discovered.pop(server.name, None)  # negotiate afresh: the server may have changed
        log.warning("MCP server unavailable", extra={"server": server.name, "error": error,
                                                     "retryInSeconds": health.backoff})

    async def _close_idle_clients(self) -> None:
        while True:
            await anyio.sleep(IDLE_SECONDS / 4)
            idle = sorted((c for c in self._clients.values() if c.users == 0), key=lambda c: c.last_used)
            excess = len(self._clients) - MAX_CLIENTS
            for user_client in idle:
                if excess > 0 or time.monotonic() - user_client.last_used > IDLE_SECONDS:
                    self.retire(user_client)
                    excess -= 1


class _UserClient:
    """One user's open client of one server, entered and left in a task of its own."""

    def __init__(self, manager: McpManager, server: McpServerConfig, token: str) -> None:
        self.manager, self.server, self.token = manager, server, token
        self.client: Client | None = None
        self.error: str | None = None
        self.ready = anyio.Event()
        self.users = 0
        self.last_used = time.monotonic()
        self.tools: list[Tool] = []
        self.listed_at = 0.0
        self.refused_token = False  # the server answered 401/403: this user's token, not the server, is the problem
        self._closing = anyio.Event()
        self._list_lock = anyio.Lock()

    def _refused(self) -> None:
        self.refused_token = True

    async def serve(self) -> None:
        try:
            async with self.manager.open_client(self.server, self.token, self._refused) as client:
                self.client = client
                self.ready.set()
                await self._closing.wait()
        except Exception as exc:  # refused, unreachable, not MCP
            self.error = _describe(exc)
        finally:
            self.client = None
            self.ready.set()
            self.manager.retire(self)

    def close(self) -> None:
        self._closing.set()

    async def list_tools(self) -> list[Tool]:
        """The server's tools, asked again once `TOOLS_TTL_SECONDS` old (tools can change)."""
        if time.monotonic() - self.listed_at < TOOLS_TTL_SECONDS:  # fresh: not even the lock (a loop turn)
            return self.tools
        async with self._list_lock:  # one user's concurrent turns share one listing
            if time.monotonic() - self.listed_at < TOOLS_TTL_SECONDS:
                return self.tools
            assert self.client is not None
            tools: list[Tool] = []
            cursor = None
            with anyio.fail_after(self.manager.list_timeout):
                while True:  # also teaches the client each tool's output schema, which it checks results against
                    page = await self.client.list_tools(cursor=cursor)
                    tools += page.tools
                    cursor = page.next_cursor
                    if cursor is None:
                        break
            self.tools, self.listed_at = tools, time.monotonic()
            return tools


class ToolSession:
    """One user's tools for one turn (or one API call), over that user's open clients."""

    def __init__(self, manager: McpManager, token: str) -> None:
        self.manager, self.token = manager, token
        self.tools: list[CatalogTool] = []
        self._clients: dict[str, _UserClient] = {}
        # Sent as each call's `_meta` (the turn and conversation it belongs to), for the payment audit trail.
        self.call_meta: dict[str, str] = {}

    async def __aenter__(self) -> ToolSession:
        listings: dict[str, list[Tool]] = {}
        if len(self.manager.servers) == 1:  # the usual case: no task group (and task) for each turn
            await self._open(self.manager.servers[0], listings)
        else:
            async with anyio.create_task_group() as group:
                for server in self.manager.servers:
                    group.start_soon(self._open, server, listings)
        self.tools = _namespaced([(server.name, listings[server.name])
                                  for server in self.manager.servers if server.name in listings])
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        for user_client in self._clients.values():
            user_client.users -= 1
            user_client.last_used = time.monotonic()

    async def _open(self, server: McpServerConfig, listings: dict[str, list[Tool]]) -> None:
        user_client = await self.manager.client(server, self.token)
        if user_client is None:
            return
        user_client.users += 1
        self._clients[server.name] = user_client
        try:
            tools = await user_client.list_tools()
        except Exception as exc:
            self.manager.drop(user_client, _describe(exc))
            return
        assert user_client.client is not None
        listings[server.name] = tools
        self.manager.record_success(server, user_client.client, sum(1 for tool in tools if visible_to_model(tool)))

    def find(self, name: str) -> CatalogTool | None:
        return next((tool for tool in self.tools if tool.name == name), None)

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Call a tool by its catalog name. Never raises for the tool's or the server's failures:
        they become a failed outcome, which the model reads and can explain."""
        started = time.perf_counter()
        outcome = await self._call(name, arguments)
        # A name the model made up is no tool: one label for all of them keeps the metric bounded.
        metrics.tool_call(name if self.find(name) else "(unknown)", outcome.ok, time.perf_counter() - started)
        return outcome

    async def _call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        tool = self.find(name)
        if tool is None:
            return ToolOutcome.failed(f"there is no tool named {name!r}")
        user_client = self._clients[tool.server]
        client = user_client.client
        if client is None:
            return ToolOutcome.failed(f"the {tool.server} service is unavailable right now")
        try:
            with anyio.fail_after(self.manager.tool_timeout):
                result = await client.call_tool(tool.original_name, arguments,
                                                meta=dict(self.call_meta) or None)  # type: ignore[arg-type]
        except TimeoutError:
            return ToolOutcome.failed(f"{name} did not answer within {self.manager.tool_timeout:g} seconds")
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:  # an in-process client being closed
                self.manager.drop(user_client, _describe(exc))
                return ToolOutcome.failed(f"the {tool.server} service is unavailable right now")
            if user_client.refused_token:
                self.manager.drop(user_client, "the token was refused")
                return ToolOutcome.failed(f"the {tool.server} service refused your sign-in; sign in again")
            return ToolOutcome.failed(f"{name} was refused: {exc.error.message}")
        except (httpx2.TransportError, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self.manager.drop(user_client, _describe(exc))
            return ToolOutcome.failed(f"the {tool.server} service is unavailable right now")
        except RuntimeError as exc:  # the SDK's check of a result against the tool's output schema
            return ToolOutcome.failed(f"{name} returned a result that does not match its schema: {exc}")
        self.manager.record_success(user_client.server, client)
        return ToolOutcome.of(result)


def _namespaced(listings: list[tuple[str, list[Tool]]]) -> list[CatalogTool]:
    """Tools of every server a model may see; a name already taken by an earlier server (orderpay's come first)
    becomes `{server}__{name}`."""
    catalog: list[CatalogTool] = []
    taken: set[str] = set()
    for server, tools in listings:
        for tool in tools:
            if not visible_to_model(tool):
                continue
            name = _MODEL_TOOL_NAME.sub("_", tool.name)[:64]
            if name in taken:
                name = f"{server}__{name}"[:64]
            if name in taken:  # still clashing after namespacing: leave it out rather than guess
                log.warning("tool left out: its name clashes", extra={"server": server, "tool": tool.name})
                continue
            taken.add(name)
            catalog.append(CatalogTool(name, server, tool.name, tool))
    return catalog


def visible_to_model(tool: Tool) -> bool:
    """MCP Apps (2026-01-26): a tool whose `_meta.ui.visibility` leaves out "model" is its UI's
    only (the payment card's `refreshPayment`); absent, a tool is visible to both."""
    ui = (tool.meta or {}).get("ui")
    visibility = ui.get("visibility") if isinstance(ui, dict) else None
    return visibility is None or (isinstance(visibility, list) and "model" in visibility)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MCPError):
        return f"MCP error {exc.code}: {exc.error.message}"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
