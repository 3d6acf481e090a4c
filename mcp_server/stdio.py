"""The MCP server over stdio, for desktop clients that start it as a subprocess
(Claude Desktop, Cursor). It acts for the user of one bearer token."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import anyio

from payment_core.cli import Commands, settings_from_args
from payment_core.identity import AuthError
from payment_core.logs import configure_logging
from payment_core.production import StartupError
from payment_core.runtime import Runtime
from payment_core.settings import Settings
from payment_core.spec import SpecError
from mcp_server.auth import session_of_token
from mcp_server.server import build_server


def run_stdio(runtime: Runtime, token: str) -> None:
    """Serve MCP on stdin/stdout with a built runtime until the client closes it.

    Raises `AuthError` before serving when `token` is refused, so a misconfigured
    client gets a clear message on stderr instead of tools that all fail.
    """
    anyio.run(serve_stdio, runtime, token)


async def serve_stdio(runtime: Runtime, token: str) -> None:
    async with runtime.running():
        await runtime.tokens.session(token)
        await build_server(runtime, session_of_token(runtime, token)).run_stdio_async()


def add_mcp_command(commands: Commands, build_runtime: Callable[[Settings], Runtime]) -> None:
    """`orderpay mcp --stdio`. `build_runtime(settings)` builds the runtime as `orderpay serve` does
    (the composition root's, with the Stripe it chooses)."""
    mcp = commands.add_parser("mcp", help="the MCP server over stdio, acting for the user of ORDERPAY_MCP_TOKEN")
    mcp.add_argument("--stdio", action="store_true", required=True, help="speak MCP on stdin/stdout")
    mcp.add_argument("--app", help="bundled app name or spec path (as `orderpay serve` runs it)")
    mcp.set_defaults(run=cmd_mcp, build_runtime=build_runtime)


def cmd_mcp(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    token = settings.mcp_token.get_secret_value().strip() if settings.mcp_token else ""
    if not token:
        print("orderpay: set ORDERPAY_MCP_TOKEN to the bearer token of the user to act for "
              "(e.g. from `orderpay token --user alice`)", file=sys.stderr)
        return 2
    # stdout carries the protocol: logs go to stderr only.
    configure_logging(settings.log_level, json_lines=settings.log_json)
    try:
        run_stdio(args.build_runtime(settings), token)  # blocks until the client closes stdin
    except AuthError as exc:
        print(f"orderpay: the token is refused: {exc.message}", file=sys.stderr)
        return 2
    except (SpecError, StartupError) as exc:
        print(f"orderpay: {exc}", file=sys.stderr)
        return 1
    return 0
