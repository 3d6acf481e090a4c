"""Idempotency-Key as Stripe documents it: replay, parameter conflict, endpoint scope, in-flight 409."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest
import stripe

from payment_core.sandbox import SandboxConfig

from .conftest import SandboxServer

PAYMENT = {"amount": "1000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true",
           "payment_method_types[0]": "card", "metadata[order_id]": "A-1"}  # fmt: skip


def wait_until_in_flight(sandbox: SandboxServer, key: str) -> None:
    deadline = time.monotonic() + 5
    while key not in sandbox.app.state.sandbox.in_flight:
        assert time.monotonic() < deadline, "the first request never started"
        time.sleep(0.005)


def test_same_key_same_body_replays_first_response(sandbox: SandboxServer) -> None:
    with sandbox.http() as http:
        first = http.post("/v1/payment_intents", data=PAYMENT, headers={"Idempotency-Key": "order-A-1"})
        again = http.post("/v1/payment_intents", data=PAYMENT, headers={"Idempotency-Key": "order-A-1"})
        listed = http.get("/v1/payment_intents").json()
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert "Idempotent-Replayed" not in first.headers
    assert len(listed["data"]) == 1, "the replay must not create a second payment"


def test_sdk_retry_with_same_key_is_replayed(client: stripe.StripeClient) -> None:
    options = {"idempotency_key": "cus-create-1"}
    first = client.v1.customers.create(params={"email": "a@example.com"}, options=options)  # type: ignore[arg-type]
    second = client.v1.customers.create(params={"email": "a@example.com"}, options=options)  # type: ignore[arg-type]
    assert first.id == second.id
    assert second.last_response is not None and second.last_response.headers["Idempotent-Replayed"] == "true"


def test_card_errors_are_replayed_too(sandbox: SandboxServer) -> None:
    declined = {**PAYMENT, "payment_method": "pm_card_chargeDeclined"}
    with sandbox.http() as http:
        first = http.post("/v1/payment_intents", data=declined, headers={"Idempotency-Key": "k-decline"})
        again = http.post("/v1/payment_intents", data=declined, headers={"Idempotency-Key": "k-decline"})
    assert first.status_code == again.status_code == 402
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_same_key_different_parameters_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    options = {"idempotency_key": "k-conflict"}
    client.v1.customers.create(params={"email": "a@example.com"}, options=options)  # type: ignore[arg-type]
    with pytest.raises(stripe.IdempotencyError) as info:
        client.v1.customers.create(params={"email": "b@example.com"}, options=options)  # type: ignore[arg-type]
    assert info.value.http_status == 400
    assert info.value.json_body["error"]["type"] == "idempotency_error"  # type: ignore[index]
    assert "same parameters" in str(info.value)


def test_key_is_bound_to_its_first_endpoint(client: stripe.StripeClient) -> None:
    options = {"idempotency_key": "k-scope"}
    client.v1.customers.create(options=options)  # type: ignore[arg-type]
    with pytest.raises(stripe.IdempotencyError) as info:
        client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"}, options=options)  # type: ignore[arg-type]
    assert "same endpoint" in str(info.value) and "/v1/customers" in str(info.value)


def test_refused_requests_save_nothing(sandbox: SandboxServer) -> None:
    """A request rejected for its parameters did not run, so the key can be used for the corrected request."""
    with sandbox.http() as http:
        bad = http.post("/v1/payment_intents", data={"currency": "usd"}, headers={"Idempotency-Key": "k-fix"})
        good = http.post("/v1/payment_intents", data={"currency": "usd", "amount": "900"}, headers={"Idempotency-Key": "k-fix"})
    assert bad.status_code == 400 and good.status_code == 200
    assert "Idempotent-Replayed" not in good.headers


def test_get_requests_ignore_the_key(sandbox: SandboxServer) -> None:
    with sandbox.http() as http:
        http.post("/v1/customers", headers={"Idempotency-Key": "k-get"})
        response = http.get("/v1/customers", headers={"Idempotency-Key": "k-get"})
    assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers


def test_concurrent_request_with_key_in_flight_gets_409(start_sandbox: Callable[..., SandboxServer]) -> None:
    # Every write takes 0.5 s, like a card authorisation, so the second request arrives while the first runs.
    sandbox = start_sandbox(SandboxConfig(latency=0.5))
    results: dict[str, httpx.Response] = {}

    def post(name: str) -> None:
        with sandbox.http() as http:
            results[name] = http.post("/v1/payment_intents", data=PAYMENT, headers={"Idempotency-Key": "k-race"})

    first = threading.Thread(target=post, args=("first",))
    first.start()
    wait_until_in_flight(sandbox, "k-race")
    post("second")
    first.join()
    assert results["first"].status_code == 200
    assert results["second"].status_code == 409
    error = results["second"].json()["error"]
    assert error["code"] == "idempotency_key_in_use" and error["type"] == "invalid_request_error"
    # The SDK retries 409s, and its retry is answered with the first request's saved response.
    client = sandbox.client(max_network_retries=2)
    replay = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
                "payment_method_types": ["card"], "metadata": {"order_id": "A-1"}},
        options={"idempotency_key": "k-race"},
    )  # fmt: skip
    assert replay.id == results["first"].json()["id"]


def test_sdk_raises_api_error_for_409_without_retries(start_sandbox: Callable[..., SandboxServer]) -> None:
    sandbox = start_sandbox(SandboxConfig(latency=0.5))
    client = sandbox.client()
    thread = threading.Thread(target=lambda: client.v1.customers.create(options={"idempotency_key": "k-409"}))
    thread.start()
    wait_until_in_flight(sandbox, "k-409")
    with pytest.raises(stripe.APIError) as info:
        client.v1.customers.create(options={"idempotency_key": "k-409"})
    thread.join()
    # The SDK maps 409 to its generic APIError (and keeps no `code` on it), exactly as against Stripe.
    assert info.value.http_status == 409
    assert info.value.json_body["error"]["code"] == "idempotency_key_in_use"  # type: ignore[index]
