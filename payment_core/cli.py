"""The core's commands of `orderpay`: tokens, the database, the audit trail, app specs and the
Stripe sandbox.

The `orderpay` command itself is built by the composition root (`orderpay.py`), which adds
the commands that need the outer packages (`serve`, `mcp`) through `main(commands=...)`:
the core never imports them (docs/architecture.md).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from payment_core.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
AddCommand: TypeAlias = Callable[["Commands"], None]
"""Adds one subcommand to `orderpay`'s commands; its `run(args) -> int` is set as a default."""


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings, with the `--app`, `--host` and `--port` options given overriding ORDERPAY_*."""
    overrides = {k: v for k, v in (("app", getattr(args, "app", None)), ("host", getattr(args, "host", None)),
                                    ("port", getattr(args, "port", None))) if v is not None}
    return Settings(**overrides)


def cmd_token(args: argparse.Namespace) -> int:
    from payment_core.identity import DEMO_USERS, find_demo_user
    from payment_core.runtime import dev_issuer

    settings = settings_from_args(args)
    if not settings.dev_identity_enabled:
        print("orderpay: development tokens are off (production settings or an external issuer is configured)", file=sys.stderr)
        return 1
    user = find_demo_user(args.user)
    if user is None:
        names = ", ".join(u.username for u in DEMO_USERS)
        print(f"orderpay: no demo user `{args.user}`; demo users are: {names}", file=sys.stderr)
        return 2
    print(dev_issuer(settings).issue(user, ttl_seconds=args.ttl))
    return 0


def cmd_spec_check(args: argparse.Namespace) -> int:
    from payment_core.spec import SpecError, load_app

    try:
        app = load_app(args.path)
    except SpecError as exc:
        print(f"orderpay: {exc}", file=sys.stderr)
        return 1
    objects = app.spec.objects()
    orders = ", ".join(obj.name for _, obj in app.spec.order_objects()) or "none"
    print(f"{app.source}: ok — app `{app.codename}`, {len(app.spec.services)} service(s), "
          f"{len(objects)} data object(s), order objects: {orders}")
    return 0


def _secret(value: object) -> str | None:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value  # type: ignore[return-value]


def cmd_sandbox(args: argparse.Namespace) -> int:
    from pathlib import Path

    from payment_core.logs import configure_logging
    from payment_core.sandbox import SandboxConfig, SandboxKeys, WebhookEndpointConfig, run_sandbox

    settings = Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    state = None if args.memory else Path(args.state) if args.state else settings.data_dir / "stripe-sandbox-standalone.sqlite3"
    # Options first, then ORDERPAY_SANDBOX_*, then keys generated on first use and kept owner-only
    # beside the state (with --memory: generated for this run only).
    given = (args.secret_key or _secret(settings.sandbox_secret_key),
             args.publishable_key or settings.sandbox_publishable_key,
             args.webhook_secret or _secret(settings.sandbox_webhook_secret))
    keys_file = state.with_suffix(".keys.json") if state is not None and None in given else None
    generated = SandboxKeys.load_or_create(keys_file) if keys_file else SandboxKeys()
    try:
        keys = SandboxKeys(given[0] or generated.secret_key, given[1] or generated.publishable_key,
                           given[2] or generated.webhook_secret)
    except ValueError as exc:
        print(f"orderpay: {exc}", file=sys.stderr)
        return 2
    endpoints = [WebhookEndpointConfig(url=url, secret=keys.webhook_secret) for url in args.webhook]
    origins = [*settings.sandbox_allowed_origins, *args.allowed_origin]
    latency_ms = args.latency_ms if args.latency_ms is not None else settings.sandbox_latency_ms
    config = SandboxConfig(state_path=state, fresh=args.fresh, webhook_endpoints=endpoints, keys=keys,
                           allowed_origins=origins, latency=latency_ms / 1000)
    # To the operator's terminal only, never to the log.
    print(f"orderpay: Stripe sandbox at http://{args.host}:{args.port} — publishable key {keys.publishable_key}", flush=True)
    if keys_file is not None:
        print(f"orderpay: its secret key and webhook signing secret are in {keys_file} (owner-only)", flush=True)
    elif None in given:
        print(f"orderpay: generated for this run — secret key {keys.secret_key}, webhook signing secret "
              f"{keys.webhook_secret}", flush=True)
    for endpoint in endpoints:
        print(f"orderpay: webhooks to {endpoint.url}", flush=True)
    if origins:
        print(f"orderpay: browsers may call it from {', '.join(origins)}", flush=True)
    run_sandbox(host=args.host, port=args.port, config=config)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    import asyncio

    from payment_core.db import database_plan, upgrade_database
    from payment_core.migrations import MigrationRefused
    from payment_core.production import StartupError
    from payment_core.runtime import Runtime
    from payment_core.spec import SpecError

    try:
        runtime: Runtime = args.build_runtime(settings_from_args(args))  # built, not started: nothing runs
    except (SpecError, StartupError) as exc:
        print(f"orderpay: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        try:
            if args.db_command == "current":
                print(f"{runtime.app.codename}: {(await database_plan(runtime.engine, runtime.metadata)).describe()}")
                return 0
            plan = await upgrade_database(runtime.engine, runtime.metadata)
            done = "\n".join(f"added: {item}" for item in plan.additions) or "nothing to add"
            print(f"{runtime.app.codename}: upgraded to {plan.revision}\n{done}", flush=True)
            for item in plan.kept:
                print(f"kept (not in the spec): {item}")
            return 0
        except MigrationRefused as exc:
            print(f"orderpay: {exc}", file=sys.stderr)
            return 1
        finally:
            await runtime.close()

    return asyncio.run(run())


def cmd_audit(args: argparse.Namespace) -> int:
    """`orderpay audit verify`: check every order's hash chain; exit 1 naming the first broken link of each."""
    import asyncio

    from payment_core.runtime import Runtime

    runtime = Runtime.create(settings_from_args(args))

    async def run() -> int:
        try:
            chains, broken = await runtime.payments.audit.verify()
        finally:
            await runtime.close()
        for link in broken:
            print(f"orderpay: audit chain broken: {link}", file=sys.stderr)
        print(f"{runtime.app.codename}: {chains} audit chain(s) checked, {len(broken)} broken")
        return 1 if broken else 0

    return asyncio.run(run())


def add_db_command(commands: Commands, build_runtime: Callable[[Settings], Any]) -> None:
    """`orderpay db upgrade|current`. `build_runtime(settings)` builds, without starting, the runtime
    whose metadata holds every table the process uses: the composition root's, as `serve` builds it
    (the outer packages add tables of their own, e.g. the chat's)."""
    db = commands.add_parser("db", help="the database's schema: migrations (ORDERPAY_DATABASE_URL)")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    for name, help_text in (("upgrade", "run the pending migrations and add what the app spec gained"),
                            ("current", "show the database's revision and what an upgrade would do")):
        db_command = db_commands.add_parser(name, help=help_text)
        db_command.add_argument("--app", help="bundled app name or spec path (as `orderpay serve` runs it)")
        db_command.set_defaults(run=cmd_db, build_runtime=build_runtime)


def build_parser(extra: Sequence[AddCommand] = ()) -> argparse.ArgumentParser:
    """The core's commands, after the `extra` ones the composition root adds."""
    parser = argparse.ArgumentParser(prog="orderpay", description="Stripe payments for orders that an AI chat "
                                     "assistant prepares and the buyer confirms.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in extra:
        add(commands)

    token = commands.add_parser("token", help="print a development bearer token for a demo user")
    token.add_argument("--user", required=True, help="demo user name or email (alice, bob, carol, admin)")
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    token.set_defaults(run=cmd_token)

    sandbox = commands.add_parser("sandbox", help="run the offline Stripe sandbox on its own")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=12111, help="port to bind (default 12111)")
    sandbox.add_argument("--state", help="state file (default: the data dir's stripe-sandbox-standalone.sqlite3)")
    sandbox.add_argument("--memory", action="store_true", help="keep state in memory only")
    sandbox.add_argument("--fresh", action="store_true", help="start from an empty state")
    sandbox.add_argument("--webhook", action="append", default=[], metavar="URL", help="deliver webhooks to URL (repeatable)")
    sandbox.add_argument("--secret-key", help="the secret key it accepts (sk_test_…; env ORDERPAY_SANDBOX_SECRET_KEY; default: generated)")
    sandbox.add_argument("--publishable-key", help="the publishable key it accepts (pk_test_…; env ORDERPAY_SANDBOX_PUBLISHABLE_KEY)")
    sandbox.add_argument("--webhook-secret", help="signing secret of --webhook deliveries (whsec_…; env ORDERPAY_SANDBOX_WEBHOOK_SECRET)")
    sandbox.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                         help="a browser origin that may call it cross-origin, e.g. http://127.0.0.1:3000 (repeatable)")
    sandbox.add_argument("--latency-ms", type=float, default=None, help="answer every API call after this many ms (benchmarks)")
    sandbox.set_defaults(run=cmd_sandbox)

    audit = commands.add_parser("audit", help="the payment audit trail (ORDERPAY_DATABASE_URL)")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check every order's hash chain; name the first broken link")
    verify.add_argument("--app", help="bundled app name or spec path (as `orderpay serve` runs it)")
    verify.set_defaults(run=cmd_audit)

    spec = commands.add_parser("spec", help="app spec tools")
    spec_commands = spec.add_subparsers(dest="spec_command", required=True)
    check = spec_commands.add_parser("check", help="validate an app spec and its MScript expressions")
    check.add_argument("path", help="spec file path or bundled app name")
    check.set_defaults(run=cmd_spec_check)
    return parser


def main(argv: Sequence[str] | None = None, *, commands: Sequence[AddCommand] = ()) -> int:
    args = build_parser(commands).parse_args(argv)
    return args.run(args)
