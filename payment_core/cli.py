"""The core's commands of `orderpay`: tokens, the database, the audit trail and app specs.

The `orderpay` command itself is built by the composition root (`orderpay.py`), which adds
the commands that need the outer packages or the sandbox (`serve`, `mcp`, `sandbox`) through
`main(commands=...)`: the core never imports them (docs/architecture.md).
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

    from payment_core.production import StartupError
    from payment_core.runtime import Runtime
    from payment_core.spec import SpecError

    try:
        runtime: Runtime = args.build_runtime(settings_from_args(args))  # built, not started: nothing runs
    except (SpecError, StartupError) as exc:
        print(f"orderpay: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        from payment_core.db import database_plan

        try:
            if (await database_plan(runtime.engine, runtime.metadata)).revision is None:
                print(f"orderpay: {runtime.app.codename}: this database has no tables yet (no payment was ever "
                      "recorded in it): run `orderpay db upgrade`, or check ORDERPAY_DATABASE_URL", file=sys.stderr)
                return 1
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


def add_audit_command(commands: Commands, build_runtime: Callable[[Settings], Any]) -> None:
    """`orderpay audit verify`, on the runtime `build_runtime(settings)` builds (the composition
    root's, as `serve` builds it; it never calls Stripe)."""
    audit = commands.add_parser("audit", help="the payment audit trail (ORDERPAY_DATABASE_URL)")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check every order's hash chain; name the first broken link")
    verify.add_argument("--app", help="bundled app name or spec path (as `orderpay serve` runs it)")
    verify.set_defaults(run=cmd_audit, build_runtime=build_runtime)


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

    spec = commands.add_parser("spec", help="app spec tools")
    spec_commands = spec.add_subparsers(dest="spec_command", required=True)
    check = spec_commands.add_parser("check", help="validate an app spec and its MScript expressions")
    check.add_argument("path", help="spec file path or bundled app name")
    check.set_defaults(run=cmd_spec_check)
    return parser


def main(argv: Sequence[str] | None = None, *, commands: Sequence[AddCommand] = ()) -> int:
    args = build_parser(commands).parse_args(argv)
    return args.run(args)
