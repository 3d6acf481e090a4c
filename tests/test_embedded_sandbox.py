"""The sandbox `orderpay serve` embeds, tried as an attacker with nothing but network access would.

It used to accept any `sk_test_…` key (the documented `sk_test_orderpay_sandbox` too) from any web
origin: anyone could list every buyer, read the webhook secret orderpay trusts, charge saved cards and
register a URL to receive every event. Now it answers only to the keys of this data dir, which orderpay
keeps to itself (the browser gets the publishable key only), and delivers only to orderpay's routes.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from payment_core.settings import Settings
from tests.support import LiveServer

SANDBOX = "/stripe-sandbox"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer.start(Settings(app="store", data_dir=tmp_path_factory.mktemp("embedded"), log_json=False))
    yield live
    live.stop()


def test_the_keys_are_this_data_dirs_own(server: LiveServer, tmp_path: Path) -> None:
    setup = server.runtime.stripe
    assert setup.embedded_sandbox and server.sandbox is not None
    assert setup.secret_key.startswith("sk_test_") and setup.secret_key != "sk_test_orderpay_sandbox"
    other = LiveServer.start(Settings(app="store", data_dir=tmp_path, log_json=False))
    try:
        assert other.runtime.stripe.secret_key != setup.secret_key
        assert other.runtime.stripe.publishable_key != setup.publishable_key
    finally:
        other.stop()


def test_without_orderpays_secret_key_nothing_is_listed_or_registered(server: LiveServer) -> None:
    alice = server.client("alice")
    alice.post("/ordermanagement-api/payment-methods/add", json={"paymentMethodId": "pm_card_visa"})
    publishable = httpx.get(f"{server.base_url}/payment-config").json()["publishableKey"]
    for key in ("sk_test_orderpay_sandbox", "sk_test_madeup0000000000000000", publishable, None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        with httpx.Client(base_url=server.base_url + SANDBOX, headers=headers) as attacker:
            answers = [attacker.get("/v1/customers"), attacker.get("/v1/payment_methods"),
                       attacker.get("/_sandbox/webhook_endpoints"), attacker.get("/v1/events"),
                       attacker.post("/_sandbox/webhook_endpoints", data={"url": "http://127.0.0.1:9/steal"}),
                       attacker.post("/v1/payment_intents", data={"amount": "99999", "currency": "usd", "confirm": "true",
                                                                   "payment_method": "pm_card_visa"})]
        assert [a.status_code for a in answers] == [401] * 6, key
        assert all(a.json()["error"]["type"] == "invalid_request_error" for a in answers)
        assert not any("whsec_" in a.text or "@" in a.text for a in answers)


def test_even_orderpays_key_cannot_send_webhooks_elsewhere_and_no_secret_is_listed(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url + SANDBOX,
                      headers={"Authorization": f"Bearer {server.runtime.stripe.secret_key}"}) as owner:
        registered = owner.post("/_sandbox/webhook_endpoints", data={"url": "http://127.0.0.1:9/steal"})
        listed = owner.get("/_sandbox/webhook_endpoints")
    assert registered.status_code == 403
    assert listed.status_code == 200 and "whsec_" not in listed.text
    assert {e["url"] for e in listed.json()["data"]} == {f"{server.base_url}/ordermanagement-api/stripe-webhook"}


def test_no_cross_origin_access(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url + SANDBOX) as browser:
        preflight = browser.options("/v1/customers", headers={"Origin": "https://evil.example",
                                                              "Access-Control-Request-Method": "GET",
                                                              "Access-Control-Request-Headers": "authorization"})
        simple = browser.get("/js/v3/", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in preflight.headers and preflight.status_code == 403
    assert "access-control-allow-origin" not in simple.headers
