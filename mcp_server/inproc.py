"""The MCP server reached in-process, for a chat backend running in the same process.

In the one-process deployment (`orderpay serve`) the chat backend would otherwise call its own
`/mcp` over loopback HTTP: a TCP round trip, the REST app's middleware, and JSON framing both
ways for every tool call. Here the SDK's `Client` talks to the same `MCPServer` through its
direct in-process dispatcher (the modern per-request path: each request still carries its
protocol version, client info and `_meta`), and nothing else changes:

- every request is authenticated by `McpApp.authenticate`, the check the HTTP endpoint makes
  (same verifier, same accepted audiences, same session), with the connecting user's bearer
  token, for each request: an expired token stops working on the next call;
- a refused token is reported to the caller (`on_refused`), as a 401 is over HTTP;
- a caller that gives up (a timeout, a stopped turn) does not cancel the tool half way: the
  request runs in the connection's own task, as the HTTP endpoint finishes a request whose
  client went away.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

import anyio
from mcp import Client
from mcp.server.runner import modern_on_request
from mcp.shared.direct_dispatcher import create_direct_dispatcher_pair
from mcp.shared.dispatcher import DispatchContext, Dispatcher
from mcp.shared.exceptions import MCPError
from mcp.shared.transport_context import TransportContext
from mcp_types.version import LATEST_MODERN_VERSION
from mcp_types.jsonrpc import CONNECTION_CLOSED, INTERNAL_ERROR

from payment_core.identity import AuthError, Session
from mcp_server.http import McpApp
from mcp_server.toolkit import in_process_session

UNAUTHORIZED = -32001
"""The error code of a request whose token was refused (over HTTP: a 401 before any JSON-RPC)."""


class InProcessServer:
    """Opens clients of `mcp_app`'s server without HTTP, each acting for one user's bearer token."""

    def __init__(self, mcp_app: McpApp) -> None:
        self.mcp_app = mcp_app

    def client(self, token: str, on_refused: Callable[[], None]) -> Client:
        """An un-entered client acting for `token`; `on_refused` is called when a request is
        refused for the token (invalid or expired), not for an unreachable issuer."""
        client = Client(self.mcp_app.server, mode=LATEST_MODERN_VERSION)
        # The SDK's in-process connector, with each request authenticated first (see the module docstring).
        client._connect = self._connector(token, on_refused)  # pyright: ignore[reportPrivateUsage]
        return client

    def _connector(self, token: str, on_refused: Callable[[], None]) -> Any:
        server = self.mcp_app.server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
        authenticate = self.mcp_app.authenticate

        async def connect(exit_stack: AsyncExitStack, _mode: Any, _raise_exceptions: bool) -> Dispatcher[Any]:
            lifespan_state = await exit_stack.enter_async_context(server.lifespan(server))
            # Unexpected handler errors are sanitized, as the HTTP endpoint answers them.
            client_side, server_side = create_direct_dispatcher_pair(raise_handler_exceptions=False)
            group = await exit_stack.enter_async_context(anyio.create_task_group())
            exit_stack.callback(server_side.close)
            serve = modern_on_request(server, lifespan_state)

            async def on_request(dctx: DispatchContext[TransportContext], method: str,
                                 params: Mapping[str, Any] | None) -> dict[str, Any]:
                try:
                    session = await authenticate(token)
                except AuthError as exc:
                    if exc.reason == "issuer_unreachable":  # our problem, not the token's (HTTP: a 503)
                        raise MCPError(code=INTERNAL_ERROR, message=exc.message) from None
                    on_refused()
                    raise MCPError(code=UNAUTHORIZED, message=exc.message) from None
                return await _detached(group, serve, session, dctx, method, params)

            await group.start(server_side.run, on_request, _no_notifications)
            return client_side

        return connect


async def _detached(group: anyio.abc.TaskGroup, serve: Any, session: Session, dctx: DispatchContext[TransportContext],
                    method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Serve one request in the connection's task group, for `session`; the caller waits for it,
    but its cancellation leaves the request running to its end."""
    done = anyio.Event()
    outcome: list[Any] = []

    async def run() -> None:
        in_process_session.set(session)  # this task's own context: no other request sees it
        try:
            outcome.append(await serve(dctx, method, params))
        except Exception as exc:  # handed to the caller, as the dispatcher would have raised it
            outcome.append(exc)
        finally:
            done.set()

    group.start_soon(run)
    await done.wait()
    if not outcome:  # cancelled: the connection is closing
        raise MCPError(code=CONNECTION_CLOSED, message="Connection closed")
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


async def _no_notifications(_dctx: Any, _method: str, _params: Mapping[str, Any] | None) -> None:
    """2026-07-28 defines no client-to-server notifications."""
