"""A newcomer runs `orderpay serve`, gets a token from `orderpay token`, and finds demo
orders; operators get health probes, request ids in structured logs and a clean stop."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

ORDERPAY = [sys.executable, "-m", "orderpay"]


def wait_until_healthy(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args} did not become ready: {process.communicate()}")
        time.sleep(0.1)


class ServeProcess:
    def __init__(self, data_dir: Path, app: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "ORDERPAY_DATA_DIR": str(data_dir), "ORDERPAY_LOG_JSON": "true"}
        self.env.pop("ORDERPAY_DATABASE_URL", None)
        self.process = subprocess.Popen([*ORDERPAY, "serve", "--app", app, "--port", str(self.port)], env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.base_url = f"http://127.0.0.1:{self.port}"
        wait_until_healthy(f"{self.base_url}/health/ready", self.process)

    def token(self, user: str) -> str:
        done = subprocess.run([*ORDERPAY, "token", "--user", user], env=self.env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path, "airbnb")
    try:
        yield process
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.communicate()


def test_serve_token_and_demo_orders_then_a_graceful_stop(serve: ServeProcess, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {serve.token('alice')}", "X-Request-ID": "trace-42"}
    listed = httpx.get(f"{serve.base_url}/bookingmanagement-api/v1/reservations", headers=headers)
    assert listed.status_code == 200
    assert listed.json()["rowCount"] == 2  # alice's two demo reservations
    assert listed.headers["x-request-id"] == "trace-42" and listed.json()["requestId"] == "trace-42"
    assert all(r["_paymentConfirmation"] == "pending" for r in listed.json()["reservations"])

    code, out, err = serve.stop()
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shutdown has finished
    assert "serving app `airbnb`" in out
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line["message"] == "Application shutdown complete." for line in lines)
    access = [line for line in lines if line.get("logger") == "orderpay.access" and line.get("requestId") == "trace-42"]
    assert access and access[0]["status"] == 200 and access[0]["path"].endswith("/reservations")

    again = ServeProcess(tmp_path, "airbnb")  # demo data is created once, not on every start
    try:
        relisted = httpx.get(f"{again.base_url}/bookingmanagement-api/v1/reservations",
                             headers={"Authorization": f"Bearer {again.token('alice')}"})
        assert relisted.json()["rowCount"] == 2
    finally:
        again.stop()


def test_health_probes_and_docs(serve: ServeProcess) -> None:
    assert httpx.get(f"{serve.base_url}/health/live").json() == {"status": "ok"}
    assert httpx.get(f"{serve.base_url}/health/ready").json()["database"] == "ok"
    spec = httpx.get(f"{serve.base_url}/openapi.json").json()
    assert "/bookingmanagement-api/v1/reservations/{reservationId}" in spec["paths"]
    assert httpx.get(f"{serve.base_url}/docs").status_code == 200


def test_token_for_an_unknown_user_names_the_demo_users(tmp_path: Path) -> None:
    done = subprocess.run([*ORDERPAY, "token", "--user", "mallory"], capture_output=True, text=True,
                          env={**os.environ, "ORDERPAY_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and "alice" in done.stderr


def test_production_settings_turn_the_development_identity_provider_off(tmp_path: Path) -> None:
    done = subprocess.run([*ORDERPAY, "token", "--user", "alice"], capture_output=True, text=True,
                          env={**os.environ, "ORDERPAY_DATA_DIR": str(tmp_path), "ORDERPAY_ENVIRONMENT": "production"})
    assert done.returncode == 1 and "off" in done.stderr


def test_the_sandbox_runs_on_its_own_and_speaks_to_the_official_sdk(tmp_path: Path) -> None:
    """A test rig hands the standalone sandbox its keys (options or ORDERPAY_SANDBOX_*); any other key,
    the once-documented sk_test_orderpay_sandbox included, is refused."""
    import stripe

    from payment_core.sandbox import SandboxKeys

    keys = SandboxKeys()
    port = free_port()
    env = {**os.environ, "ORDERPAY_SANDBOX_SECRET_KEY": keys.secret_key, "ORDERPAY_SANDBOX_WEBHOOK_SECRET": keys.webhook_secret}
    process = subprocess.Popen([*ORDERPAY, "sandbox", "--port", str(port), "--state", str(tmp_path / "s.sqlite3"),
                                "--publishable-key", keys.publishable_key, "--allowed-origin", "http://127.0.0.1:3000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/_sandbox/health", process)
        client = stripe.StripeClient(keys.secret_key, base_addresses={"api": f"http://127.0.0.1:{port}"})
        intent = client.v1.payment_intents.create({"amount": 1099, "currency": "usd", "payment_method": "pm_card_visa",
                                                   "payment_method_types": ["card"], "confirm": True})
        assert intent.status == "succeeded" and intent.client_secret.startswith(f"{intent.id}_secret_")
        with pytest.raises(stripe.AuthenticationError):
            stripe.StripeClient("sk_test_orderpay_sandbox", base_addresses={"api": f"http://127.0.0.1:{port}"},
                                max_network_retries=0).v1.customers.list()
        preflight = httpx.options(f"http://127.0.0.1:{port}/v1/payment_methods",
                                  headers={"Origin": "http://127.0.0.1:3000", "Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
    assert keys.publishable_key in out, "the operator sees the publishable key"
    assert keys.secret_key not in out + err and keys.webhook_secret not in out + err, "keys it was given are not echoed"


def test_the_standalone_sandbox_generates_its_keys_and_says_where_they_are(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERPAY_SANDBOX_")}
    process = subprocess.Popen([*ORDERPAY, "sandbox", "--port", str(port), "--state", str(tmp_path / "s.sqlite3")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/_sandbox/health", process)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    keys_file = tmp_path / "s.keys.json"
    keys = json.loads(keys_file.read_text())
    assert keys["secret_key"].startswith("sk_test_") and keys["secret_key"] != "sk_test_orderpay_sandbox"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert str(keys_file) in out and keys["publishable_key"] in out and keys["secret_key"] not in out


def test_serving_freezes_what_was_built_and_collects_young_objects_less_often() -> None:
    # In a process of its own: frozen objects stay frozen for the rest of the process.
    probe = ("import gc, orderpay; before = gc.get_freeze_count(); orderpay.settle_heap(); "
             "print(before, gc.get_freeze_count(), *gc.get_threshold())")
    before, frozen, *thresholds = map(int, subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                                          check=True, cwd=Path(__file__).parent.parent).stdout.split())
    assert before == 0 and frozen > 10_000  # the modules and whatever else was alive
    assert thresholds == [10_000, 10, 10]
