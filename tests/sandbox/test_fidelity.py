"""Every object the sandbox returns has the keys of Stripe's published example and parses into the SDK's types."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.support import unavailable

from .conftest import SandboxServer


def _fixtures_path() -> Path:
    if env := os.environ.get("ORDERPAY_STRIPE_FIXTURES"):
        return Path(env)
    # shared/ sits beside the repository, locally and in CI.
    return Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json"


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Any]:
    path = _fixtures_path()
    if not path.exists():
        # CI has shared/ beside the clone: fidelity is always checked there.
        unavailable(f"Stripe's fixtures3.json not found at {path} (set ORDERPAY_STRIPE_FIXTURES)")
    return json.loads(path.read_text())["resources"]


# Sub-objects whose example in fixtures3.json is one arbitrary variant of a polymorphic or free-form value,
# so only the top level of them can be compared.
POLYMORPHIC = {
    "payment_intent": {"next_action", "last_payment_error", "metadata", "payment_method_options"},
    "charge": {"metadata", "fraud_details", "source"},
    "event": {"data"},
    "customer": {"metadata", "discount"},
    "payment_method": {"metadata"},
    "refund": {"metadata"},
}


def assert_same_shape(kind: str, ours: dict[str, Any], theirs: dict[str, Any], path: str = "") -> None:
    """Same keys at the top level and in every fixed-shape sub-object both sides fill in."""
    assert set(ours) == set(theirs), f"{kind}{path}: extra {set(ours) - set(theirs)}, missing {set(theirs) - set(ours)}"
    for key, value in ours.items():
        if path == "" and key in POLYMORPHIC.get(kind, set()):
            continue
        if isinstance(value, dict) and isinstance(theirs[key], dict) and theirs[key]:
            assert_same_shape(kind, value, theirs[key], f"{path}.{key}")


def raw(sandbox: SandboxServer, path: str) -> dict[str, Any]:
    with sandbox.http() as http:
        response = http.get(path)
    response.raise_for_status()
    return response.json()


def test_objects_match_stripe_examples(client: stripe.StripeClient, sandbox: SandboxServer, fixtures: dict[str, Any]) -> None:
    customer = client.v1.customers.create(params={"email": "buyer@example.com", "name": "Jenny Rosen"})
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "payment_method_types": ["card"],
            "metadata": {"order_id": "A-1"},
        }
    )
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    assert intent.latest_charge is not None
    objects = {
        "customer": raw(sandbox, f"/v1/customers/{customer.id}"),
        "payment_intent": raw(sandbox, f"/v1/payment_intents/{intent.id}"),
        "payment_method": raw(sandbox, f"/v1/payment_methods/{intent.payment_method}"),
        "charge": raw(sandbox, f"/v1/charges/{intent.latest_charge}"),
        "refund": raw(sandbox, f"/v1/refunds/{refund.id}"),
        "event": raw(sandbox, "/v1/events")["data"][0],
    }
    for kind, obj in objects.items():
        assert obj["object"] == kind
        assert_same_shape(kind, obj, fixtures[kind])


def test_list_objects_have_stripe_list_shape(client: stripe.StripeClient, sandbox: SandboxServer) -> None:
    customer = client.v1.customers.create()
    client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    for path in ("/v1/payment_intents", "/v1/events", "/v1/refunds", "/v1/charges", f"/v1/customers/{customer.id}/payment_methods"):
        listing = raw(sandbox, path)
        assert set(listing) == {"object", "data", "has_more", "url"}
        assert listing["object"] == "list"
        assert listing["url"] == path


def test_ids_client_secret_and_statuses(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "customer": customer.id, "payment_method_types": ["card"]}
    )
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", customer.id)
    assert re.fullmatch(r"pi_[A-Za-z0-9]{24}", intent.id)
    assert re.fullmatch(rf"{intent.id}_secret_[A-Za-z0-9]{{25}}", intent.client_secret or "")
    assert intent.status == "requires_payment_method"
    assert intent.livemode is False
    confirmed = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_mastercard"})
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 1000
    assert (confirmed.payment_method or "").startswith("pm_")
    assert (confirmed.latest_charge or "").startswith("ch_")


def test_sdk_parses_every_response_into_its_types(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"metadata": {"k": "v"}})
    assert isinstance(customer, stripe.Customer)
    assert isinstance(client.v1.customers.update(customer.id, params={"name": "N"}), stripe.Customer)
    method = client.v1.payment_methods.attach("pm_card_amex", params={"customer": customer.id})
    assert isinstance(method, stripe.PaymentMethod)
    assert method.card is not None and method.card.brand == "amex" and method.card.last4 == "0005"
    methods = client.v1.payment_methods.list(params={"customer": customer.id})
    assert isinstance(methods, stripe.ListObject) and isinstance(methods.data[0], stripe.PaymentMethod)
    intent = client.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "customer": customer.id, "payment_method": method.id, "confirm": True,
                "payment_method_types": ["card"], "expand": ["latest_charge"]}
    )  # fmt: skip
    assert isinstance(intent, stripe.PaymentIntent)
    assert isinstance(intent.latest_charge, stripe.Charge)
    assert isinstance(client.v1.charges.retrieve(intent.latest_charge.id), stripe.Charge)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert isinstance(refund, stripe.Refund)
    assert isinstance(client.v1.refunds.retrieve(refund.id), stripe.Refund)
    events = client.v1.events.list(params={"limit": 3})
    assert isinstance(events.data[0], stripe.Event)
    assert isinstance(client.v1.events.retrieve(events.data[0].id), stripe.Event)
    assert isinstance(client.v1.payment_intents.list(params={"customer": customer.id}).data[0], stripe.PaymentIntent)


def test_expand_nested_and_in_lists(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    intent = client.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa",
                "confirm": True, "payment_method_types": ["card"]}
    )  # fmt: skip
    expanded = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge.customer", "payment_method"]})
    assert isinstance(expanded.latest_charge, stripe.Charge)
    assert isinstance(expanded.latest_charge.customer, stripe.Customer)
    assert isinstance(expanded.payment_method, stripe.PaymentMethod)
    listing = client.v1.payment_intents.list(params={"expand": ["data.customer"]})
    assert isinstance(listing.data[0].customer, stripe.Customer)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.retrieve(intent.id, params={"expand": ["currency"]})
    assert info.value.param == "expand"


def test_pagination_newest_first(client: stripe.StripeClient) -> None:
    created = [client.v1.customers.create(params={"name": f"c{i}"}).id for i in range(5)]
    first = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in first.data] == created[::-1][:2] and first.has_more
    second = client.v1.customers.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == created[::-1][2:4]
    back = client.v1.customers.list(params={"limit": 2, "ending_before": second.data[0].id})
    assert [c.id for c in back.data] == created[::-1][:2]
    assert [c.id for c in client.v1.customers.list().auto_paging_iter()] == created[::-1]


def test_unknown_parameters_and_missing_objects_are_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.customers.create(params={"nickname": "x"})  # type: ignore[typeddict-unknown-key]
    assert info.value.code == "parameter_unknown" and info.value.param == "nickname"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as small:
        client.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    assert small.value.code == "amount_too_small"


def test_customer_update_merges_metadata(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})
    updated = client.v1.customers.update(customer.id, params={"metadata": {"a": "", "c": "3"}, "email": "x@example.com"})
    assert updated.metadata.to_dict() == {"b": "2", "c": "3"}
    assert client.v1.customers.retrieve(customer.id).email == "x@example.com"


def test_errors_have_stripe_error_body(sandbox: SandboxServer) -> None:
    with sandbox.http() as http:
        response = http.post("/v1/payment_intents", data={"currency": "usd"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["request-id"].startswith("req_")
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "parameter_missing",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
            "message": "Missing required param: amount.",
            "param": "amount",
        }
    }


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/v1/nothing"), ("POST", "/v1/customers/cus_x/whatever"), ("DELETE", "/v1/customers"), ("GET", "/v2/customers")],
)
def test_unknown_urls_get_stripes_json_404(sandbox: SandboxServer, method: str, path: str) -> None:
    with sandbox.http() as http:
        response = http.request(method, path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "message": f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can "
            "help at https://support.stripe.com/.",
        }
    }
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox.client().raw_request("get", "/v1/nothing")
    assert info.value.http_status == 404 and "Unrecognized request URL" in str(info.value)
