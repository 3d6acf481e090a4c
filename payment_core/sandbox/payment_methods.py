"""Payment methods: card creation (from the browser with a publishable key), test ids, attach and detach."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from . import errors, events, objects
from .cards import TEST_CARDS, TEST_PAYMENT_METHODS, TestCard, normalise_exp_year, validate_card
from .params import check_allowed, get_dict, get_enum, get_str, updated_metadata

if TYPE_CHECKING:
    from .api import ApiRequest
    from .runtime import Origin, Sandbox

REUSE_REFUSED = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with "
    "a connected account without Customer attachment, or was detached from a Customer. It may not be used again. "
    "To use a PaymentMethod multiple times, you must attach it to a Customer first."
)

_BILLING_FIELDS = ("address", "email", "name", "phone", "tax_id")
_ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def _store_new(sandbox: Sandbox, method: dict[str, Any], card: TestCard) -> dict[str, Any]:
    sandbox.store.put(method)
    # Only the test card's number is kept, to know how charges on it behave; never shown.
    sandbox.store.set_private(method["id"], {"card": card.number})
    return method


def resolve(sandbox: Sandbox, method_id: str, *, param: str = "payment_method") -> dict[str, Any]:
    """A stored `pm_`, or a new one materialised from a `pm_card_*` test id, as Stripe does on each use."""
    number = TEST_PAYMENT_METHODS.get(method_id)
    if number is not None:
        card = TEST_CARDS[number]
        today = datetime.date.today()
        method = objects.payment_method(
            card, exp_month=today.month, exp_year=today.year + 3, cvc_check=None, billing=None, metadata={}
        )
        return _store_new(sandbox, method, card)
    method = sandbox.store.get(method_id)
    if method is None or method["object"] != "payment_method":
        raise errors.no_such("PaymentMethod", method_id, param=param)
    return method


def card_of(sandbox: Sandbox, method: dict[str, Any]) -> TestCard:
    return TEST_CARDS[sandbox.store.get_private(method["id"])["card"]]


def mark_used(sandbox: Sandbox, method: dict[str, Any]) -> None:
    """A payment method charged without a customer can never be used again, as with Stripe."""
    if method["customer"] is None:
        private = sandbox.store.get_private(method["id"])
        sandbox.store.set_private(method["id"], {**private, "consumed": True})


def check_reusable(sandbox: Sandbox, method: dict[str, Any], *, param: str = "payment_method") -> None:
    if method["customer"] is None and sandbox.store.get_private(method["id"]).get("consumed"):
        raise errors.invalid_request(REUSE_REFUSED, param=param)


def attach(sandbox: Sandbox, method: dict[str, Any], customer_id: str, origin: Origin | None) -> dict[str, Any]:
    if method["customer"] == customer_id:
        return method
    if method["customer"] is not None:
        raise errors.invalid_request("The payment method you provided has already been attached to a customer.")
    check_reusable(sandbox, method)
    customer = sandbox.store.get(customer_id)
    if customer is None or customer["object"] != "customer":
        raise errors.no_such("customer", customer_id, param="customer")
    card = card_of(sandbox, method)
    if card.declines_at_attach and card.decline is not None:
        # Stripe verifies the card with the issuer on attach; nothing is saved and no event is sent.
        decline = card.decline
        raise errors.card_error(decline.message, code=decline.code, decline_code=decline.decline_code, param=decline.param)
    method = sandbox.store.put({**method, "customer": customer_id})
    events.emit(sandbox, "payment_method.attached", method, origin)
    return method


def _billing_details(params: dict[str, Any]) -> dict[str, Any] | None:
    billing = get_dict(params, "billing_details", _BILLING_FIELDS)
    if billing is not None:
        get_dict(billing, "address", _ADDRESS_FIELDS)
    return billing


# Handlers


def create(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, ("type", "card", "billing_details", "metadata", "allow_redisplay"))
    get_enum(req.params, "type", ("card",), required=True)
    card_params = get_dict(req.params, "card", ("number", "exp_month", "exp_year", "cvc"))
    if card_params is None:
        raise errors.missing_param("card")
    for field in ("number", "exp_month", "exp_year"):
        if not card_params.get(field):
            raise errors.missing_param(f"card[{field}]")
    try:
        exp_month, exp_year = int(card_params["exp_month"]), int(card_params["exp_year"])
    except ValueError:
        raise errors.card_error("Your card's expiration date is invalid.", code="invalid_expiry_month", param="exp_month")
    cvc = card_params.get("cvc") or None
    card = validate_card(str(card_params["number"]), exp_month, exp_year, cvc)
    method = objects.payment_method(
        card,
        exp_month=exp_month,
        exp_year=normalise_exp_year(exp_year),
        cvc_check="unchecked" if cvc else None,
        billing=_billing_details(req.params),
        metadata=updated_metadata(req.params, {}),
    )
    if allow := get_enum(req.params, "allow_redisplay", ("always", "limited", "unspecified")):
        method["allow_redisplay"] = allow
    return _store_new(req.sandbox, method, card)


def retrieve(req: ApiRequest) -> dict[str, Any]:
    return resolve(req.sandbox, req.path_params["id"], param="id")


def update(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, ("billing_details", "metadata"))
    method = resolve(req.sandbox, req.path_params["id"], param="id")
    billing = _billing_details(req.params)
    if billing is not None:
        current = method["billing_details"]
        merged = {**current, **{k: v for k, v in billing.items() if k != "address"}}
        merged["address"] = {**current["address"], **billing.get("address", {})}
        method["billing_details"] = objects.billing_details(merged)
    method["metadata"] = updated_metadata(req.params, method["metadata"])
    return req.store.put(method)


def attach_handler(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, ("customer",))
    customer_id = get_str(req.params, "customer", required=True)
    assert customer_id is not None
    method = resolve(req.sandbox, req.path_params["id"], param="id")
    return attach(req.sandbox, method, customer_id, req.origin)


def detach(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, ())
    method = resolve(req.sandbox, req.path_params["id"], param="id")
    if method["customer"] is None:
        raise errors.invalid_request(
            "The payment method you provided is not attached to a customer so detachment is impossible."
        )
    customer = req.store.get(method["customer"])
    if customer and customer["invoice_settings"]["default_payment_method"] == method["id"]:
        customer["invoice_settings"]["default_payment_method"] = None
        req.store.put(customer)
    method = req.store.put({**method, "customer": None})
    private = req.store.get_private(method["id"])
    req.store.set_private(method["id"], {**private, "consumed": True})
    events.emit(req.sandbox, "payment_method.detached", method, req.origin)
    return method


def list_methods(req: ApiRequest) -> dict[str, Any]:
    customer_id = req.path_params.get("customer") or get_str(req.params, "customer")
    check_allowed(req.params, ("customer", "type", "limit", "starting_after", "ending_before"))
    get_enum(req.params, "type", ("card",))
    filters = {"type": "card"}
    url = "/v1/payment_methods"
    if customer_id:
        customer = req.store.get(customer_id)
        if customer is None or customer["object"] != "customer":
            raise errors.no_such("customer", customer_id, param="customer")
        filters["customer"] = customer_id
        if "customer" in req.path_params:
            url = f"/v1/customers/{customer_id}/payment_methods"
    return req.page("payment_method", url, filters)
