"""Keys: secret keys for servers; publishable keys only where Stripe.js may use them; everything else 401."""

from __future__ import annotations

import pytest
import stripe

from .conftest import PUBLISHABLE_KEY, SandboxServer


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer sk_live_123", "Bearer not-a-key", "Bearer sk_test_", "Token sk_test_orderpay_sandbox"],
)
def test_missing_or_malformed_key_is_401(sandbox: SandboxServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    with sandbox.http(None) as http:
        response = http.get("/v1/customers", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_sdk_raises_authentication_error(sandbox: SandboxServer) -> None:
    with pytest.raises(stripe.AuthenticationError) as info:
        sandbox.client("sk_live_notatestkey").v1.customers.create()
    assert info.value.http_status == 401 and "sk_live_" in str(info.value)


def test_any_well_formed_test_key_and_basic_auth_are_accepted(sandbox: SandboxServer) -> None:
    assert sandbox.client("sk_test_somebodyelse123").v1.customers.create().object == "customer"
    with sandbox.http(None) as http:
        response = http.get("/v1/customers", auth=("sk_test_orderpay_sandbox", ""))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers"),
        ("POST", "/v1/payment_intents"),
        ("GET", "/v1/payment_intents"),
        ("POST", "/v1/refunds"),
        ("GET", "/v1/events"),
        ("GET", "/v1/payment_methods/pm_card_visa"),
        ("POST", "/v1/payment_methods/pm_card_visa/attach"),
        ("POST", "/_sandbox/reset"),
    ],
)
def test_publishable_key_refused_on_server_only_endpoints(sandbox: SandboxServer, method: str, path: str) -> None:
    with sandbox.http(PUBLISHABLE_KEY) as http:
        response = http.request(method, path)
    assert response.status_code == 401
    assert "publishable API key" in response.json()["error"]["message"]


def test_publishable_key_as_form_parameter_like_stripe_js(sandbox: SandboxServer) -> None:
    with sandbox.http(None) as http:
        created = http.post(
            "/v1/payment_methods",
            data={"key": PUBLISHABLE_KEY, "type": "card", "card[number]": "4242 4242 4242 4242", "card[exp_month]": "12",
                  "card[exp_year]": "2040", "card[cvc]": "123", "billing_details[name]": "Jenny Rosen"},
            headers={"Origin": "https://shop.example"},
        )  # fmt: skip
        # A secret key never travels as a parameter.
        refused = http.get("/v1/customers", params={"key": "sk_test_orderpay_sandbox"})
    assert created.status_code == 200
    assert created.json()["billing_details"]["name"] == "Jenny Rosen"
    assert created.headers["access-control-allow-origin"] == "*"
    assert refused.status_code == 401


def test_cors_preflight(sandbox: SandboxServer) -> None:
    with sandbox.http(None) as http:
        response = http.options(
            "/v1/payment_methods",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
