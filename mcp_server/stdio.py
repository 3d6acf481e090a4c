"""The MCP server over stdio, for desktop clients that start it as a subprocess
(Claude Desktop, Cursor). It acts for the user of one bearer token."""
from __future__ import annotations

import anyio

from payment_core.logs import configure_logging
from payment_core.runtime import Runtime
from payment_core.settings import Settings
from mcp_server.auth import session_of_token
from mcp_server.server import build_server


def run_stdio(settings: Settings, token: str) -> None:
    """Serve MCP on stdin/stdout until the client closes it.

    Raises `AuthError` before serving when `token` is refused, so a misconfigured
    client gets a clear message on stderr instead of tools that all fail.
    """
    anyio.run(serve_stdio, settings, token)


async def serve_stdio(settings: Settings, token: str) -> None:
    # stdout carries the protocol: logs go to stderr only.
    configure_logging(settings.log_level, json_lines=settings.log_json)
    runtime = Runtime.create(settings)
    async with runtime.running():
        await runtime.tokens.session(token)
        await build_server(runtime, session_of_token(runtime, token)).run_stdio_async()

