"""State: survives a restart unless fresh, resets on demand, stays consistent under concurrent requests."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import stripe

from payment_core.sandbox import SandboxConfig

from .conftest import SandboxServer


def test_state_survives_a_restart(start_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "state.sqlite3"
    first = start_sandbox(SandboxConfig(state_path=path))
    client = first.client()
    customer = client.v1.customers.create(params={"email": "kept@example.com"})
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa",
                "confirm": True, "payment_method_types": ["card"]},
        options={"idempotency_key": "kept-key"},
    )  # fmt: skip
    first.stop()

    second = start_sandbox(SandboxConfig(state_path=path))
    client = second.client()
    assert client.v1.customers.retrieve(customer.id).email == "kept@example.com"
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    replay = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa",
                "confirm": True, "payment_method_types": ["card"]},
        options={"idempotency_key": "kept-key"},
    )  # fmt: skip
    assert replay.id == intent.id, "idempotency keys survive the restart too"
    second.stop()

    fresh = start_sandbox(SandboxConfig(state_path=path, fresh=True))
    with pytest.raises(stripe.InvalidRequestError):
        fresh.client().v1.customers.retrieve(customer.id)


def test_in_memory_state_is_not_kept(start_sandbox: Callable[..., SandboxServer]) -> None:
    first = start_sandbox(SandboxConfig(state_path=None))
    customer = first.client().v1.customers.create()
    first.stop()
    with pytest.raises(stripe.InvalidRequestError):
        start_sandbox(SandboxConfig(state_path=None)).client().v1.customers.retrieve(customer.id)


def test_reset_clears_everything(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    customer = client.v1.customers.create(options={"idempotency_key": "reset-key"})
    with sandbox.http() as http:
        response = http.post("/_sandbox/reset")
    assert response.status_code == 200
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.retrieve(customer.id)
    assert client.v1.events.list().data == []
    again = client.v1.customers.create(options={"idempotency_key": "reset-key"})
    assert again.id != customer.id


def test_concurrent_confirmations_charge_once(sandbox: SandboxServer) -> None:
    client = sandbox.client()
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "payment_method_types": ["card"]}
    )

    def confirm(_: int) -> int:
        with sandbox.http() as http:
            return http.post(f"/v1/payment_intents/{intent.id}/confirm").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(confirm, range(16)))
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == 15
    assert len(client.v1.charges.list(params={"payment_intent": intent.id}).data) == 1


def test_concurrent_creates_are_all_kept(sandbox: SandboxServer) -> None:
    def create(index: int) -> str:
        with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.secret_key}"}) as http:
            return http.post("/v1/customers", data={"metadata[i]": str(index)}).json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(create, range(40)))
    assert len(ids) == 40
    listed = sandbox.client().v1.customers.list(params={"limit": 100})
    assert {c.id for c in listed.data} == ids
