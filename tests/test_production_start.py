"""Production never touches the sandbox: the real `orderpay serve`, started as an operator starts it.

Without a Stripe secret key it used to start with the offline sandbox mounted, and took test card
4242 as payment for real orders. Now it refuses, with one line naming the setting, before anything
listens; with a test-mode key it starts (a staging box) and says so in the log.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import httpx

from tests.support import free_port
from tests.test_operations import ORDERPAY, wait_until_healthy


def production_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Every production setting but the ones a test leaves out; none of the developer's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERPAY_")}
    return {**env, "ORDERPAY_ENVIRONMENT": "production", "ORDERPAY_DATA_DIR": str(data_dir),
            "ORDERPAY_AUTH_JWKS_URL": "http://127.0.0.1:9/jwks.json", "ORDERPAY_AUTH_ISSUER": "https://id.example",
            "ORDERPAY_PAY_LINK_SECRET": "p" * 48, "ORDERPAY_LOG_JSON": "true", **extra}


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_production_without_a_stripe_key_refuses_to_start(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run([*ORDERPAY, "serve", "--port", str(port)], env=production_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines == [lines[-1]], f"one line, no traceback: {done.stderr}"
    assert lines[-1].startswith("orderpay: production needs ORDERPAY_STRIPE_SECRET_KEY")
    assert "sandbox" in lines[-1]
    assert "serving" not in done.stdout
    assert not listening(port), "nothing listens"
    blank = subprocess.run([*ORDERPAY, "serve", "--port", str(port)], capture_output=True, text=True, timeout=60,
                           env=production_env(tmp_path, ORDERPAY_STRIPE_SECRET_KEY="  "))
    assert blank.returncode != 0 and "ORDERPAY_STRIPE_SECRET_KEY" in blank.stderr


def test_production_on_a_test_mode_key_warns_and_never_mounts_the_sandbox(tmp_path: Path) -> None:
    port = free_port()
    key = "sk_test_51StagingKeyOfTheOperator0000000000"
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([*ORDERPAY, "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log, text=True,
                                   env=production_env(tmp_path / "data", ORDERPAY_STRIPE_SECRET_KEY=key,
                                                      ORDERPAY_STRIPE_PUBLISHABLE_KEY="pk_test_51StagingKey"))
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(f"{base}/health/live", process)
            config = httpx.get(f"{base}/payment-config").json()
            sandbox_paths = [httpx.get(f"{base}/stripe-sandbox{path}") for path in ("/js/v3/", "/_sandbox/health")]
            customers = httpx.get(f"{base}/stripe-sandbox/v1/customers", headers={"Authorization": f"Bearer {key}"})
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert config["sandbox"] is False and config["stripeJsUrl"] == "https://js.stripe.com/v3/"
    assert [r.status_code for r in sandbox_paths] == [404, 404] and customers.status_code == 404
    warnings = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    warnings = [entry for entry in warnings if entry["level"] == "warning" and "test-mode key" in entry["message"]]
    assert len(warnings) == 1
    assert key not in log_path.read_text(), "the key itself is never logged"
