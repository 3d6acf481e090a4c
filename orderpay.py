"""The composition root: builds the `orderpay` process and command from the parts.

Only this module knows all of them (docs/architecture.md): the core's REST API and runtime
(`payment_core`), the MCP server (`mcp_server`), the chat backend (`bff`) and the web UI
(`web`). Those import the core and never each other; nothing imports this module.

- `create_server(settings)`: the whole system in one process, as `orderpay serve` runs it.
- `main(argv)`: the `orderpay` command: the core's commands plus `serve`, `mcp` and `db`.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from payment_core import cli
from payment_core.api import create_app
from payment_core.settings import Settings
from payment_core.spec import SpecError
from mcp_server import create_mcp_app, route_mcp
from mcp_server.inproc import InProcessServer
from mcp_server.stdio import add_mcp_command
from bff import add_chat_backend
from bff.settings import ChatSettings
from web import web_router


def create_server(settings: Settings | None = None, *, chat: ChatSettings | None = None) -> FastAPI:
    """`orderpay serve`'s application: the REST API, `/mcp`, the chat backend under `/api` and the web UI."""
    app = create_app(settings)
    runtime = app.state.runtime
    mcp_app = create_mcp_app(runtime, allowed_origins=runtime.settings.mcp_allowed_origins)
    route_mcp(app, mcp_app)
    # The chat backend reaches this process's MCP server directly, not over loopback HTTP.
    chat_running = add_chat_backend(app, runtime, chat or ChatSettings(), own_mcp=InProcessServer(mcp_app))
    app.include_router(web_router(runtime))
    rest_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(instance: FastAPI) -> AsyncIterator[Any]:
        # Started in this order, stopped in reverse: the chat backend calls the MCP server, which uses the runtime.
        async with rest_lifespan(instance) as state, mcp_app.running(), chat_running():
            yield state

    app.router.lifespan_context = lifespan
    return app


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from payment_core.logs import configure_logging
    from payment_core.production import StartupError, check_production

    settings = cli.settings_from_args(args)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    try:
        check_production(settings)  # before anything is built or listens
        app = create_server(settings)
    except (SpecError, StartupError) as exc:
        print(f"orderpay: {exc}", file=sys.stderr)
        return 1
    runtime = app.state.runtime
    url = settings.resolved_public_url()
    print(f"orderpay: serving app `{runtime.app.codename}` at {url} — chat: {url}/ , MCP: {url}/mcp , "
          f"API docs: {url}/docs", flush=True)
    if runtime.issuer is not None:
        print("orderpay: development sign-in is on; get a token with `orderpay token --user alice`", flush=True)
    if runtime.stripe.sandbox is not None:
        print(f"orderpay: no Stripe key set — the offline Stripe sandbox plays Stripe at {runtime.stripe.api_base}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)
    return 0


def add_serve_command(commands: cli.Commands) -> None:
    serve = commands.add_parser("serve", help="run the whole system on embedded defaults")
    serve.add_argument("--app", help="bundled app name (store, ebaycclone, clonesahibinden, airbnb) or spec path")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000)")
    serve.set_defaults(run=cmd_serve)


def add_db_command(commands: cli.Commands) -> None:
    """`orderpay db`: migrates the tables of the whole system, as `serve` builds it."""
    cli.add_db_command(commands, lambda settings: create_server(settings).state.runtime)


def main(argv: Sequence[str] | None = None) -> int:
    """The `orderpay` command."""
    return cli.main(argv, commands=[add_serve_command, add_mcp_command, add_db_command])


if __name__ == "__main__":
    sys.exit(main())
