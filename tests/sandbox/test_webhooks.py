"""Webhooks: Stripe's signature scheme, retries with backoff after failures, duplicate delivery mode."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import pytest
import stripe

from payment_core.sandbox import SandboxConfig, WebhookEndpointConfig
from payment_core.sandbox.webhooks import sign

from .conftest import Receiver, SandboxServer

FAST = {"webhook_retry_delay": 0.05, "processing_delay": 0.2}


def types_of(deliveries: list[dict]) -> list[str]:
    return [d["type"] for d in deliveries]


def pay(client: stripe.StripeClient, payment_method: str = "pm_card_visa") -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "payment_method": payment_method, "confirm": True,
                "payment_method_types": ["card"]}
    )  # fmt: skip


def test_signatures_verify_with_the_sdk(start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    endpoint = WebhookEndpointConfig(hook.url)
    sandbox = start_sandbox(SandboxConfig(webhook_endpoints=[endpoint], **FAST))
    client = sandbox.client()
    client.v1.customers.create(params={"email": "buyer@example.com"})
    intent = pay(client)
    expected = {"customer.created", "payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}
    deliveries = hook.wait_for(lambda got: expected <= set(types_of(got)))
    assert endpoint.secret.startswith("whsec_")
    for delivery in deliveries:
        event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], endpoint.secret)
        assert isinstance(event, stripe.Event)
        assert event.id == delivery["id"]
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(delivery["body"], delivery["signature"], "whsec_wrong")
    succeeded = next(d for d in deliveries if d["type"] == "payment_intent.succeeded")
    event = stripe.Webhook.construct_event(succeeded["body"], succeeded["signature"], endpoint.secret)
    assert event.data.object["id"] == intent.id and event.data.object["status"] == "succeeded"
    assert event.request is not None and (event.request.id or "").startswith("req_")
    # The same event is readable through the API, and no longer pending once delivered.
    assert client.v1.events.retrieve(event.id).pending_webhooks == 0


def test_signature_scheme_matches_stripe() -> None:
    header = sign('{"id": "evt_1"}', "whsec_test", 1_700_000_000)
    timestamp, signature = header.split(",")
    assert timestamp == "t=1700000000" and signature.startswith("v1=") and len(signature) == 3 + 64
    stripe.WebhookSignature.verify_header('{"id": "evt_1"}', header, "whsec_test", tolerance=None)


def test_enabled_events_filter(start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    sandbox = start_sandbox(SandboxConfig(webhook_endpoints=[WebhookEndpointConfig(hook.url, enabled_events=("payment_intent.succeeded",))], **FAST))
    pay(sandbox.client())
    hook.wait_for(lambda got: "payment_intent.succeeded" in types_of(got))
    time.sleep(0.2)
    assert types_of(hook.requests) == ["payment_intent.succeeded"]


def test_failed_deliveries_are_retried_with_backoff(start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]) -> None:
    hook = receiver(fail_first=3)
    endpoint = WebhookEndpointConfig(hook.url, enabled_events=("customer.created",))
    sandbox = start_sandbox(SandboxConfig(webhook_endpoints=[endpoint], **FAST))
    customer = sandbox.client().v1.customers.create()
    attempts = hook.wait_for(lambda got: any(d["status"] == 200 for d in got))
    assert [d["status"] for d in attempts] == [500, 500, 500, 200]
    assert {d["id"] for d in attempts} == {attempts[0]["id"]}
    gaps = [later["at"] - earlier["at"] for earlier, later in zip(attempts, attempts[1:])]
    # 0.05 s, then 0.1 s, then 0.2 s: each wait doubles.
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.195
    assert gaps[2] > gaps[0]
    event = json.loads(attempts[-1]["body"])
    assert event["data"]["object"]["id"] == customer.id


def test_connection_errors_are_retried(start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = WebhookEndpointConfig(f"http://127.0.0.1:{port}/webhooks", enabled_events=("customer.created",))
    sandbox = start_sandbox(SandboxConfig(webhook_endpoints=[endpoint], **FAST))
    sandbox.client().v1.customers.create()
    time.sleep(0.2)  # nothing listens yet: the first attempts fail to connect
    hook = receiver(port=port)
    delivered = hook.wait_for(lambda got: len(got) == 1)
    assert delivered[0]["type"] == "customer.created"


def test_deliver_twice_sends_every_event_twice(start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    endpoint = WebhookEndpointConfig(hook.url)
    sandbox = start_sandbox(SandboxConfig(webhook_endpoints=[endpoint], deliver_twice=True, **FAST))
    pay(sandbox.client())
    deliveries = hook.wait_for(lambda got: types_of(got).count("payment_intent.succeeded") == 2)
    time.sleep(0.1)
    ids = [d["id"] for d in hook.requests]
    assert all(ids.count(event_id) == 2 for event_id in ids)
    for delivery in deliveries:
        stripe.Webhook.construct_event(delivery["body"], delivery["signature"], endpoint.secret)


def test_endpoints_registered_through_admin_call(sandbox: SandboxServer, receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    with sandbox.http(sandbox.publishable_key) as http:
        assert http.post("/_sandbox/webhook_endpoints", data={"url": hook.url}).status_code == 401
    with sandbox.http() as http:
        created = http.post(
            "/_sandbox/webhook_endpoints", data={"url": hook.url, "enabled_events[0]": "payment_method.attached", "enabled_events[1]": "payment_method.detached"}
        ).json()
        assert created["secret"].startswith("whsec_") and created["id"].startswith("we_")
        listed = http.get("/_sandbox/webhook_endpoints").json()["data"]
        assert [e["id"] for e in listed] == [created["id"]]
    client = sandbox.client()
    customer = client.v1.customers.create()
    method = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.payment_methods.detach(method.id)
    deliveries = hook.wait_for(lambda got: len(got) == 2)
    assert sorted(types_of(deliveries)) == ["payment_method.attached", "payment_method.detached"]
    for delivery in deliveries:
        stripe.Webhook.construct_event(delivery["body"], delivery["signature"], created["secret"])
    with sandbox.http() as http:
        assert http.delete(f"/_sandbox/webhook_endpoints/{created['id']}").json()["deleted"] is True
    client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    time.sleep(0.2)
    assert len(hook.requests) == 2


def test_processing_payment_settles_later_by_webhook(start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    endpoint = WebhookEndpointConfig(hook.url, enabled_events=("payment_intent.processing", "payment_intent.succeeded"))
    sandbox = start_sandbox(SandboxConfig(webhook_endpoints=[endpoint], **FAST))
    client = sandbox.client()
    intent = pay(client, "pm_card_processing")
    assert intent.status == "processing"
    charge = client.v1.charges.retrieve(intent.latest_charge)  # type: ignore[arg-type]
    assert charge.status == "pending"
    deliveries = hook.wait_for(lambda got: "payment_intent.succeeded" in types_of(got))
    assert types_of(deliveries)[0] == "payment_intent.processing"
    settled = client.v1.payment_intents.retrieve(intent.id)
    assert settled.status == "succeeded" and settled.amount_received == 4200
    assert client.v1.charges.retrieve(charge.id).status == "succeeded"


def test_pending_events_are_delivered_after_a_restart(
    start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver], tmp_path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = WebhookEndpointConfig(f"http://127.0.0.1:{port}/webhooks", enabled_events=("customer.created",))
    config = SandboxConfig(state_path=tmp_path / "state.sqlite3", webhook_endpoints=[endpoint], webhook_retry_delay=0.05)
    first = start_sandbox(config)
    customer = first.client().v1.customers.create()
    first.stop()
    hook = receiver(port=port)
    start_sandbox(config)
    delivered = hook.wait_for(lambda got: len(got) >= 1)
    assert json.loads(delivered[0]["body"])["data"]["object"]["id"] == customer.id


@pytest.mark.parametrize("key", ["publishable", "sk_test_orderpay_sandbox", "sk_test_invented000000000000", None])
def test_registering_an_endpoint_needs_the_secret_key(sandbox: SandboxServer, receiver: Callable[..., Receiver], key: str | None) -> None:
    """Anyone could register a URL and have every event (customers, intents) POSTed to it."""
    hook = receiver()
    with sandbox.http(sandbox.publishable_key if key == "publishable" else key) as http:
        refused = http.post("/_sandbox/webhook_endpoints", data={"url": hook.url})
        listing = http.get("/_sandbox/webhook_endpoints")
    assert refused.status_code == listing.status_code == 401
    assert refused.json()["error"]["type"] == "invalid_request_error"
    sandbox.client().v1.customers.create(params={"email": "alice@example.com"})
    time.sleep(0.2)
    assert hook.requests == []
    with sandbox.http() as http:
        assert http.get("/_sandbox/webhook_endpoints").json()["data"] == []


def test_signing_secrets_are_never_listed(start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]) -> None:
    configured = WebhookEndpointConfig(receiver().url)
    sandbox = start_sandbox(SandboxConfig(webhook_endpoints=[configured], **FAST))
    with sandbox.http() as http:
        created = http.post("/_sandbox/webhook_endpoints", data={"url": receiver().url}).json()
        listing = http.get("/_sandbox/webhook_endpoints")
    assert created["secret"].startswith("whsec_"), "shown once, to whoever registered it"
    assert [e["id"] for e in listing.json()["data"]] == [configured.id, created["id"]]
    assert "whsec_" not in listing.text and all("secret" not in e for e in listing.json()["data"])


def test_a_sandbox_without_registration_delivers_only_where_configured(
    start_sandbox: Callable[..., SandboxServer], receiver: Callable[..., Receiver]
) -> None:
    """As orderpay embeds it: webhooks go to orderpay's own route, and no call can add another URL."""
    own, other = receiver(), receiver()
    sandbox = start_sandbox(SandboxConfig(webhook_endpoints=[WebhookEndpointConfig(own.url)], allow_webhook_registration=False, **FAST))
    with sandbox.http() as http:
        refused = http.post("/_sandbox/webhook_endpoints", data={"url": other.url})
    assert refused.status_code == 403
    assert "cannot be registered" in refused.json()["error"]["message"]
    sandbox.client().v1.customers.create()
    own.wait_for(lambda got: len(got) == 1)
    assert other.requests == []
