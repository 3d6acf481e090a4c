"""Keys: the sandbox answers only to the keys it was given or generated — the secret key for servers,
the publishable key only for what Stripe.js does in a browser — and browsers only from origins it allows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import stripe

from payment_core.sandbox import SandboxConfig, SandboxKeys

from .conftest import SandboxServer


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer sk_live_123", "Bearer not-a-key", "Bearer sk_test_", "Token {secret}"],
)
def test_missing_or_malformed_key_is_401(sandbox: SandboxServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization.format(secret=sandbox.secret_key)} if authorization is not None else {}
    with sandbox.http(None) as http:
        response = http.get("/v1/customers", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "customer" not in response.text


def test_a_missing_key_gets_stripes_message(sandbox: SandboxServer) -> None:
    with sandbox.http(None) as http:
        response = http.get("/v1/customers")
    assert response.status_code == 401
    assert response.json() == {"error": {"type": "invalid_request_error", "message": response.json()["error"]["message"]}}
    assert response.json()["error"]["message"].startswith("You did not provide an API key.")


@pytest.mark.parametrize("invented", ["sk_test_orderpay_sandbox", "sk_test_somebodyelse123", "pk_test_orderpay_sandbox"])
def test_an_invented_test_key_is_refused_with_stripes_401(sandbox: SandboxServer, invented: str) -> None:
    """Any well-formed key used to work, the documented `sk_test_orderpay_sandbox` included: anyone
    could then list every buyer, read the webhook secret and charge saved cards."""
    customer = sandbox.client().v1.customers.create(params={"email": "alice@example.com"})
    with pytest.raises(stripe.AuthenticationError) as info:
        sandbox.client(invented).v1.customers.list()
    assert info.value.http_status == 401
    body = info.value.json_body["error"]  # type: ignore[index]
    assert body == {"type": "invalid_request_error", "message": f"Invalid API Key provided: {invented[:8]}****{invented[-4:]}"}
    with sandbox.http(invented) as http:
        listing = http.get("/v1/customers")
        endpoints = http.get("/_sandbox/webhook_endpoints")
        reset = http.post("/_sandbox/reset")
    assert (listing.status_code, endpoints.status_code, reset.status_code) == (401, 401, 401)
    assert customer.id not in listing.text and "alice@example.com" not in listing.text
    assert sandbox.client().v1.customers.retrieve(customer.id).email == "alice@example.com", "the reset was refused"


def test_keys_are_generated_per_sandbox_and_never_a_constant(start_sandbox: Callable[..., SandboxServer]) -> None:
    first, second = start_sandbox(), start_sandbox()
    for server in (first, second):
        assert server.secret_key.startswith("sk_test_") and len(server.secret_key) >= 40
        assert server.publishable_key.startswith("pk_test_")
        assert "orderpay" not in server.secret_key
    assert first.secret_key != second.secret_key
    with pytest.raises(stripe.AuthenticationError):
        first.client(second.secret_key).v1.customers.create()
    given = SandboxKeys("sk_test_" + "a" * 24, "pk_test_" + "b" * 24, "whsec_" + "c" * 24)
    configured = start_sandbox(SandboxConfig(keys=given))
    assert configured.client("sk_test_" + "a" * 24).v1.customers.create().object == "customer"


def test_keys_persist_in_an_owner_only_file(tmp_path) -> None:
    path = tmp_path / "keys" / "stripe-sandbox-keys.json"
    keys = SandboxKeys.load_or_create(path)
    assert SandboxKeys.load_or_create(path) == keys, "the same keys after a restart"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    with pytest.raises(ValueError):
        SandboxKeys("sk_live_" + "a" * 24, "pk_test_" + "b" * 24, "whsec_" + "c" * 24)


def test_basic_auth_with_the_secret_key(sandbox: SandboxServer) -> None:
    with sandbox.http(None) as http:
        assert http.get("/v1/customers", auth=(sandbox.secret_key, "")).status_code == 200
        assert http.get("/v1/customers", auth=("sk_test_invented00000000000", "")).status_code == 401


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers"),
        ("GET", "/v1/customers/cus_x"),
        ("GET", "/v1/customers/cus_x/payment_methods"),
        ("POST", "/v1/payment_intents"),
        ("GET", "/v1/payment_intents"),
        ("POST", "/v1/payment_intents/pi_x"),
        ("POST", "/v1/payment_intents/pi_x/capture"),
        ("POST", "/v1/payment_intents/pi_x/cancel"),
        ("POST", "/v1/refunds"),
        ("GET", "/v1/charges"),
        ("GET", "/v1/events"),
        ("GET", "/v1/disputes"),
        ("GET", "/v1/payment_methods"),
        ("GET", "/v1/payment_methods/pm_card_visa"),
        ("POST", "/v1/payment_methods/pm_card_visa/attach"),
        ("POST", "/v1/payment_methods/pm_x/detach"),
        ("POST", "/_sandbox/reset"),
        ("GET", "/_sandbox/webhook_endpoints"),
        ("POST", "/_sandbox/webhook_endpoints"),
        ("POST", "/_sandbox/refunds"),
    ],
)
def test_publishable_key_refused_on_server_only_endpoints(sandbox: SandboxServer, method: str, path: str) -> None:
    with sandbox.http(sandbox.publishable_key) as http:
        response = http.request(method, path)
    assert response.status_code == 401
    assert "publishable API key" in response.json()["error"]["message"]


def test_publishable_key_reads_an_intent_only_with_its_client_secret(sandbox: SandboxServer) -> None:
    intent = sandbox.client().v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method_types": ["card"], "metadata": {"order": "A-1"}}
    )
    with sandbox.http(sandbox.publishable_key) as http:
        without = http.get(f"/v1/payment_intents/{intent.id}")
        wrong = http.get(f"/v1/payment_intents/{intent.id}", params={"client_secret": f"{intent.id}_secret_wrong"})
        right = http.get(f"/v1/payment_intents/{intent.id}", params={"client_secret": intent.client_secret})
        confirm = http.post(f"/v1/payment_intents/{intent.id}/confirm", data={"payment_method": "pm_card_visa"})
    assert (without.status_code, wrong.status_code, confirm.status_code) == (400, 400, 400)
    assert right.status_code == 200 and "metadata" not in right.json() and "customer" not in right.json()


def test_publishable_key_as_form_parameter_like_stripe_js(sandbox: SandboxServer) -> None:
    with sandbox.http(None) as http:
        created = http.post(
            "/v1/payment_methods",
            data={"key": sandbox.publishable_key, "type": "card", "card[number]": "4242 4242 4242 4242", "card[exp_month]": "12",
                  "card[exp_year]": "2040", "card[cvc]": "123", "billing_details[name]": "Jenny Rosen"},
        )  # fmt: skip
        # A secret key never travels as a parameter.
        refused = http.get("/v1/customers", params={"key": sandbox.secret_key})
    assert created.status_code == 200
    assert created.json()["billing_details"]["name"] == "Jenny Rosen"
    assert refused.status_code == 401


def test_a_foreign_origin_gets_no_cors_allow_header(sandbox: SandboxServer) -> None:
    """It used to answer `Access-Control-Allow-Origin: *`, so any web page could drive it from a
    visitor's browser."""
    with sandbox.http(None) as http:
        simple = http.post("/v1/payment_methods", headers={"Origin": "https://evil.example"},
                           data={"key": sandbox.publishable_key, "type": "card", "card[number]": "4242424242424242",
                                 "card[exp_month]": "12", "card[exp_year]": "2040"})  # fmt: skip
        preflight = http.options(
            "/v1/customers",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "authorization"},
        )  # fmt: skip
    assert "access-control-allow-origin" not in simple.headers
    assert preflight.status_code == 403
    assert not any(name.startswith("access-control-allow") for name in preflight.headers)


def test_only_the_allowed_origin_gets_cors(start_sandbox: Callable[..., SandboxServer]) -> None:
    sandbox = start_sandbox(SandboxConfig(allowed_origins=["https://shop.example"]))
    with sandbox.http(None) as http:
        preflight = http.options(
            "/v1/payment_methods",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"},
        )  # fmt: skip
        allowed = http.get("/_sandbox/health", headers={"Origin": "https://shop.example"})
        other = http.get("/_sandbox/health", headers={"Origin": "https://shop.example.evil"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in other.headers
