"""Secrets stay out of logs and files (money rule 4), checked on the real `orderpay serve`.

A buyer pays one order through a pay link (the hosted pay page's API, a card typed into Stripe.js,
3-D Secure) and another over REST with their bearer token; the sandbox's signed webhooks come back.
Then the server's whole log output, its data dir and its stored webhook deliveries are read as an
attacker with the log files or another account on the machine would read them.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from tests.support import free_port
from tests.test_operations import ORDERPAY, wait_until_healthy

ORDERS = "/ordermanagement-api/v1/orders"
ORDER = {"totalAmount": 2500, "items": [{"sku": "MUG-01", "name": "Coffee mug", "quantity": 2, "unitPrice": 1250}],
         "deliveryAddress": "1 Main St, Springfield"}
THREE_DS = "4000002760003184"


@dataclass
class Story:
    """What one run of the server left behind, and the secrets that went through it."""

    data_dir: Path
    log: str
    secrets: dict[str, str]
    webhook_payloads: list[dict[str, Any]]


def wait_for(predicate: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def stored_deliveries(database: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return [json.loads(payload) for (payload,) in db.execute("SELECT payload FROM sys_webhookdelivery")]


def card(http: httpx.Client, publishable_key: str, number: str) -> str:
    """What Stripe.js's createPaymentMethod does in the buyer's browser (same origin, publishable key)."""
    created = http.post("/stripe-sandbox/v1/payment_methods",
                        data={"key": publishable_key, "type": "card", "card[number]": number, "card[exp_month]": "12",
                              "card[exp_year]": "2034", "card[cvc]": "123"})
    assert created.status_code == 200, created.text
    return created.json()["id"]


def authenticate(http: httpx.Client, payment_result: dict[str, Any]) -> None:
    """The buyer completes 3-D Secure on the bank's (the sandbox's) page and comes back."""
    action = payment_result["paymentIntentInfo"]["nextAction"]
    page = action.get("redirect_to_url", {}).get("url") or action["use_stripe_sdk"]["stripe_js"]
    query = parse_qs(urlsplit(page).query)
    answer = http.post(urlsplit(page).path, data={"client_secret": query["client_secret"][0], "outcome": "complete"})
    assert answer.status_code in (200, 303), answer.text
    if answer.status_code == 303:  # back to the result page, client secret in its query
        http.get(answer.headers["location"])


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    data_dir = tmp_path_factory.mktemp("orderpay") / "data"
    data_dir.mkdir(mode=0o755)  # as an older version left it: readable by every account
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ORDERPAY_")},
           "ORDERPAY_DATA_DIR": str(data_dir), "ORDERPAY_APP": "store", "ORDERPAY_LOG_LEVEL": "DEBUG",
           "ORDERPAY_LOG_JSON": "true"}
    log_path = data_dir.parent / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([*ORDERPAY, "serve", "--port", str(port)], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
        secrets: dict[str, str] = {}
        try:
            wait_until_healthy(f"{base}/health/ready", process, timeout=60)
            token = subprocess.run([*ORDERPAY, "token", "--user", "alice"], env=env, capture_output=True, text=True,
                                   check=True).stdout.strip()
            secrets["bearer token"] = token
            keys = json.loads((data_dir / "stripe-sandbox-keys.json").read_text())
            secrets |= {"sandbox secret key": keys["secret_key"], "webhook secret": keys["webhook_secret"]}
            buyer = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            browser = httpx.Client(base_url=base, timeout=30)  # no session: what opening a pay link gives
            publishable_key = browser.get("/payment-config").json()["publishableKey"]

            # 1. Through a pay link, as the chat's Pay card hands it out.
            linked = buyer.post(ORDERS, json=ORDER).json()["order"]
            tool = buyer.post("/api/tools/call", json={"tool": "initiatePayment",
                                                       "arguments": {"orderType": "order", "orderId": linked["id"]}})
            assert tool.status_code == 200, tool.text
            pay_url = tool.json()["result"]["__frontendAction"]["payUrl"]
            pay_token = urlsplit(pay_url).path.rsplit("/", 1)[-1]
            secrets["pay-link token"] = pay_token
            assert browser.get(urlsplit(pay_url).path).status_code == 200
            assert browser.get(f"/pay/api/{pay_token}/order").status_code == 200
            params = {"paymentMethodId": card(browser, publishable_key, THREE_DS), "return_url": f"{base}/pay/result"}
            started = browser.patch(f"/pay/api/{pay_token}/start", json={"paymentUserParams": params})
            assert started.status_code == 200, started.text
            result = started.json()["paymentResult"]
            secrets["client secret (pay link)"] = result["paymentIntentInfo"]["clientSecret"]
            authenticate(browser, result)
            browser.get(f"/pay/api/{pay_token}/order", params={"token": pay_token})

            # 2. Over REST with the bearer token.
            order = buyer.post(ORDERS, json=ORDER).json()["order"]
            saved = buyer.post("/ordermanagement-api/payment-methods/add",
                               json={"paymentMethodId": card(browser, publishable_key, THREE_DS)})
            assert saved.status_code == 200, saved.text
            paid = buyer.patch(f"/ordermanagement-api/v1/startorderpayment/{order['id']}",
                               json={"paymentUserParams": {"paymentMethodId": saved.json()["paymentMethodId"],
                                                           "return_url": f"{base}/pay/result"}})
            assert paid.status_code == 200, paid.text
            secrets["client secret (REST)"] = paid.json()["paymentResult"]["paymentIntentInfo"]["clientSecret"]
            authenticate(browser, paid.json()["paymentResult"])

            # Stripe's webhooks (signed with the whsec_ secret) have settled both orders.
            database = data_dir / "store.db"
            for order_id in (linked["id"], order["id"]):
                wait_for(lambda order_id=order_id: buyer.get(f"{ORDERS}/{order_id}").json()["order"]["_paymentConfirmation"] == "paid")
            payloads = wait_for(lambda: [p for p in stored_deliveries(database) if p["type"] == "payment_intent.succeeded"]
                                and stored_deliveries(database))
            # Stripe sends the intent's client secret in payment_intent.* events: the sandbox does too.
            sandbox = stripe.StripeClient(keys["secret_key"], base_addresses={"api": f"{base}/stripe-sandbox"})
            sent = sandbox.v1.events.list(params={"type": "payment_intent.requires_action"}).data
            assert sent and sent[0].data.object["client_secret"] and sent[0].data.object["next_action"]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    yield Story(data_dir, log_path.read_text(), secrets, payloads)


def test_no_secret_reaches_a_log_line(story: Story) -> None:
    lines = story.log.splitlines()
    assert len(lines) > 20, "the server logged its work"
    for name, secret in story.secrets.items():
        leaked = [line for line in lines if secret in line]
        assert not leaked, f"the {name} is in the log: {leaked[:2]}"
    for pattern in (r"_secret_[A-Za-z0-9]{6,}", r"whsec_[A-Za-z0-9]{6,}", r"sk_test_[A-Za-z0-9]{6,}",
                    r"eyJ[A-Za-z0-9_-]{10,}\.", r"/pay/(api/)?[A-Za-z0-9_-]{20,}"):
        assert not re.search(pattern, story.log), f"{pattern} in the log"


def test_the_access_log_shows_pay_link_paths_redacted(story: Story) -> None:
    access = [json.loads(line) for line in story.log.splitlines()
              if line.startswith("{") and json.loads(line).get("logger") == "orderpay.access"]
    paths = [entry["path"] for entry in access]
    assert "/pay/[redacted]" in paths
    assert "/pay/api/[redacted]/start" in paths and "/pay/api/[redacted]/order" in paths
    assert any(path.startswith("/ordermanagement-api/v1/startorderpayment/") for path in paths), "other paths stay readable"


def test_stored_webhook_payloads_keep_no_client_secret(story: Story) -> None:
    assert {p["type"] for p in story.webhook_payloads} >= {"payment_intent.requires_action", "payment_intent.succeeded"}
    for payload in story.webhook_payloads:
        text = json.dumps(payload)
        assert "_secret_" not in text, payload["type"]
        obj = payload["data"]["object"]
        assert "client_secret" not in obj and "next_action" not in obj
        if obj.get("object") == "payment_intent":
            assert obj["id"].startswith("pi_") and obj["status"], "what the payment flow needs is kept"


def test_the_data_dir_is_the_owners_alone(story: Story) -> None:
    assert story.data_dir.stat().st_mode & 0o777 == 0o700
    files = {path.name: path.stat().st_mode & 0o777 for path in story.data_dir.rglob("*") if path.is_file()}
    for expected in ("store.db", "dev-signing-key.pem", "stripe-sandbox.sqlite3", "stripe-sandbox-keys.json"):
        assert expected in files, sorted(files)
    assert any(name.endswith("-wal") for name in files), "SQLite's companions are checked too"
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}
    assert all(path.stat().st_mode & 0o777 == 0o700 for path in story.data_dir.rglob("*") if path.is_dir())
