"""The composition root: builds the `orderpay` process and command from the parts.

Only this module knows all of them (docs/architecture.md): the core's REST API and runtime
(`payment_core`), the offline Stripe sandbox (`payment_core.sandbox`), the MCP server
(`mcp_server`), the chat backend (`bff`) and the web UI (`web`). Those import the core and
never each other; nothing imports this module.

- `build_runtime(settings)`: the core's runtime on the Stripe this process uses — the one the
  settings name, or in development without a Stripe key the sandbox served at /stripe-sandbox.
- `create_rest_server(settings)`: the REST API on that runtime, with the sandbox mounted when it plays Stripe.
- `create_server(settings)`: the whole system in one process, as `orderpay serve` runs it.
- `settle_heap()`: the garbage collector set up for serving, once the app is built.
- `main(argv)`: the `orderpay` command: the core's commands plus `serve`, `mcp`, `db` and `sandbox`.
"""
from __future__ import annotations

import argparse
import gc
import sys
from functools import partial
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from payment_core import cli
from payment_core.api import create_app
from payment_core.production import check_production
from payment_core.runtime import Runtime
from payment_core.sandbox import SandboxConfig, SandboxKeys, WebhookEndpointConfig, create_sandbox_app
from payment_core.sandbox.command import add_sandbox_command
from payment_core.settings import Settings
from payment_core.spec import SpecError
from payment_core.stripe_setup import SANDBOX_PREFIX, StripeSetup, webhook_paths
from mcp_server import create_mcp_app, route_mcp
from mcp_server.inproc import InProcessServer
from mcp_server.stdio import add_mcp_command
from bff import add_chat_backend
from bff.settings import ChatSettings
from web import web_router


# The embedded sandbox's keys and webhook secret, generated once per data dir and kept owner-only,
# so that a restart (and deliveries queued before it) keeps them.
SANDBOX_KEYS_FILE = "stripe-sandbox-keys.json"


def embedded_sandbox_keys(settings: Settings) -> SandboxKeys | None:
    """The keys of the sandbox served at /stripe-sandbox when it plays Stripe (no Stripe key set), else None."""
    if not settings.uses_sandbox:
        return None
    check_production(settings)  # production never falls back to the sandbox: it refuses to start
    return SandboxKeys.load_or_create(settings.data_dir / SANDBOX_KEYS_FILE)


def build_runtime(settings: Settings) -> Runtime:
    """The core's runtime as every orderpay process builds it (built, not started): on the Stripe the
    settings name, or on the embedded sandbox (`orderpay mcp --stdio`, a process of its own, reaches
    it at the running `orderpay serve`'s public URL)."""
    keys = embedded_sandbox_keys(settings)
    if keys is None:
        return Runtime.create(settings)
    return Runtime.create(settings, StripeSetup(
        secret_key=keys.secret_key, publishable_key=keys.publishable_key,
        api_base=f"{settings.resolved_public_url()}{SANDBOX_PREFIX}",
        webhook_secrets=[keys.webhook_secret, *settings.stripe_webhook_secrets], embedded_sandbox=True))


def embedded_sandbox(runtime: Runtime) -> SandboxConfig:
    """The sandbox that plays Stripe for `runtime`, with its keys, delivering to the app's own webhook routes only."""
    settings = runtime.settings
    keys = embedded_sandbox_keys(settings)
    assert keys is not None and runtime.stripe.embedded_sandbox, "the runtime talks to another Stripe"
    public = settings.resolved_public_url()
    return SandboxConfig(
        state_path=settings.data_dir / "stripe-sandbox.sqlite3",
        keys=keys,
        webhook_endpoints=[WebhookEndpointConfig(url=f"{public}{path}", secret=keys.webhook_secret)
                           for path in webhook_paths(runtime.app)],
        # Same-origin (served under /stripe-sandbox): no CORS, and deliveries only to orderpay's own routes.
        allow_webhook_registration=False,
        deliver_twice=settings.sandbox_deliver_twice,
        latency=settings.sandbox_latency_ms / 1000,
    )


def run_alongside(app: FastAPI, *parts: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
    """Run each part (its `running()`) inside `app`'s lifespan: started in order after what the app
    already starts, stopped in reverse. Mounted and routed apps get no lifespan of their own."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(instance: FastAPI) -> AsyncIterator[Any]:
        async with inner(instance) as state, AsyncExitStack() as stack:
            for running in parts:
                await stack.enter_async_context(running())
            yield state

    app.router.lifespan_context = lifespan


def create_rest_server(settings: Settings | None = None) -> FastAPI:
    """The REST API on `build_runtime`'s runtime, with the offline sandbox at /stripe-sandbox when it
    plays Stripe (`app.state.sandbox` is then its config, else None)."""
    runtime = build_runtime(settings or Settings())
    app = create_app(runtime)
    app.state.sandbox = None
    if runtime.stripe.embedded_sandbox:
        app.state.sandbox = embedded_sandbox(runtime)
        sandbox = create_sandbox_app(app.state.sandbox)
        app.mount(SANDBOX_PREFIX, sandbox)
        run_alongside(app, sandbox.state.sandbox.running)
    return app


def create_server(settings: Settings | None = None, *, chat: ChatSettings | None = None) -> FastAPI:
    """`orderpay serve`'s application: the REST API, `/mcp`, the chat backend under `/api` and the web UI."""
    app = create_rest_server(settings)
    runtime = app.state.runtime
    mcp_app = create_mcp_app(runtime, allowed_origins=runtime.settings.mcp_allowed_origins)
    route_mcp(app, mcp_app)
    app.state.mcp = mcp_app
    # The chat backend reaches this process's MCP server directly, not over loopback HTTP.
    chat_running = add_chat_backend(app, runtime, chat or ChatSettings(), own_mcp=InProcessServer(mcp_app))
    app.include_router(web_router(runtime))
    # Started in this order, stopped in reverse: the chat backend calls the MCP server, which uses the runtime.
    run_alongside(app, mcp_app.running, chat_running)
    return app


def settle_heap() -> None:
    """Set the garbage collector up for serving, once the app is built (not in tests: a frozen
    object's cycles are never collected).

    What exists by then (modules, the app spec, routes, schemas: about 250,000 objects) lives as
    long as the process: frozen, a full collection no longer walks it. And the youngest objects
    are collected after 10,000 allocations rather than 700: a streamed chat turn allocates tens of
    thousands of short-lived ones (tasks, coroutines, events), and with 1,000 turns at once the
    default thresholds spent about a quarter of the process's CPU in the collector (see
    docs/performance.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from payment_core.logs import configure_logging
    from payment_core.production import StartupError, check_production

    settings = cli.settings_from_args(args)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    try:
        check_production(settings)  # before anything is built or listens
        app = create_server(settings)
        settle_heap()
    except (SpecError, StartupError) as exc:
        print(f"orderpay: {exc}", file=sys.stderr)
        return 1
    runtime = app.state.runtime
    url = settings.resolved_public_url()
    print(f"orderpay: serving app `{runtime.app.codename}` at {url} — chat: {url}/ , MCP: {url}/mcp , "
          f"API docs: {url}/docs", flush=True)
    if runtime.issuer is not None:
        print("orderpay: development sign-in is on; get a token with `orderpay token --user alice`", flush=True)
    if runtime.stripe.embedded_sandbox:
        print(f"orderpay: no Stripe key set — the offline Stripe sandbox plays Stripe at {runtime.stripe.api_base}", flush=True)
    # access_log off: RequestMiddleware writes the access line (with the request id, redacted).
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=10)
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
    return cli.main(argv, commands=[add_serve_command, partial(add_mcp_command, build_runtime=build_runtime),
                                    add_db_command, partial(cli.add_audit_command, build_runtime=build_runtime),
                                    add_sandbox_command])


if __name__ == "__main__":
    sys.exit(main())
