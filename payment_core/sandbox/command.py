"""`orderpay sandbox`: the offline Stripe sandbox on its own, for a test rig (docs/sandbox.md).

The sandbox's own command: the composition root (`orderpay.py`) registers it, so the core's
commands (`payment_core/cli.py`) never import the sandbox.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from payment_core.cli import Commands
from payment_core.logs import configure_logging
from payment_core.settings import Settings

from .app import run_sandbox
from .config import SandboxConfig, SandboxKeys, WebhookEndpointConfig


def add_sandbox_command(commands: Commands) -> None:
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


def _secret(value: object) -> str | None:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value  # type: ignore[return-value]


def cmd_sandbox(args: argparse.Namespace) -> int:
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
