"""/v1/refunds and /v1/charges handlers: a charge can be refunded in parts, never beyond what was captured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import disputes, errors, events, objects, payments
from .params import check_allowed, get_enum, get_int, get_str, updated_metadata
from .runtime import Origin

if TYPE_CHECKING:
    from .api import ApiRequest

REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _get(req: ApiRequest, kind: str, object_id: str, *, param: str = "id") -> dict[str, Any]:
    found = req.store.get(object_id)
    if found is None or found["object"] != kind:
        raise errors.no_such(kind, object_id, param=param)
    return found


def _refundable_charge(req: ApiRequest) -> dict[str, Any]:
    charge_id = get_str(req.params, "charge")
    intent_id = get_str(req.params, "payment_intent")
    if (charge_id is None) == (intent_id is None):
        raise errors.invalid_request(
            "One of the following params should be provided for this request: payment_intent or charge."
        )
    if intent_id is not None:
        intent = payments.get_intent(req.sandbox, intent_id, param="payment_intent")
        if intent["status"] != "succeeded":
            raise errors.invalid_request(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        charge_id = intent["latest_charge"]
    assert charge_id is not None
    charge = _get(req, "charge", charge_id, param="charge")
    if not charge["captured"]:
        raise errors.invalid_request(
            f"Charge {charge_id} has not been captured; cancel its PaymentIntent to release the funds instead.",
            param="charge",
        )
    return charge


def refund_charge(req: ApiRequest, origin: Origin) -> dict[str, Any]:
    """Refund the charge the parameters name, by `amount` or what is left of it; `refund.created` and
    `charge.refunded` follow. Shared by the API and the sandbox's dashboard-style refunds."""
    check_allowed(req.params, ("charge", "payment_intent", "amount", "reason", "metadata"))
    charge = _refundable_charge(req)
    dispute = disputes.dispute_of(req.sandbox, charge)
    if dispute is not None and not dispute["is_charge_refundable"]:
        raise errors.invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.", param="charge", code="charge_disputed"
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise errors.invalid_request(
            f"Charge {charge['id']} has already been refunded.", param="charge", code="charge_already_refunded"
        )
    amount = get_int(req.params, "amount", minimum=1)
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise errors.invalid_request(
            f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded amount on charge "
            f"({_money(remaining, charge['currency'])})",
            param="amount",
        )
    refund = objects.refund(
        charge, amount=amount, reason=get_enum(req.params, "reason", REASONS), metadata=updated_metadata(req.params, {})
    )
    req.store.put(refund)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"], "refunds": charge["refunds"]}
    refunds = charge["refunds"]
    charge.update(
        amount_refunded=charge["amount_refunded"] + amount,
        refunded=charge["amount_refunded"] + amount == charge["amount"],
        refunds={**refunds, "data": [refund, *refunds["data"]][:10], "has_more": len(refunds["data"]) >= 10},
    )
    req.store.put(charge)
    events.emit(req.sandbox, "refund.created", refund, origin)
    events.emit(req.sandbox, "charge.refunded", charge, origin, previous_attributes=previous)
    return refund


def create(req: ApiRequest) -> dict[str, Any]:
    return refund_charge(req, req.origin)


def create_from_dashboard(req: ApiRequest) -> dict[str, Any]:
    """`POST /_sandbox/refunds`: a refund made in Stripe's dashboard, out of orderpay's sight. Its events
    name no API request, as the dashboard's do not name one of the integration's."""
    return refund_charge(req, Origin())


def _money(amount: int, currency: str) -> str:
    return f"${amount / 100:,.2f}" if currency == "usd" else f"{amount} {currency}"


def retrieve(req: ApiRequest) -> dict[str, Any]:
    return _get(req, "refund", req.path_params["id"])


def list_refunds(req: ApiRequest) -> dict[str, Any]:
    return req.filtered_page("refund", "/v1/refunds", ("charge", "payment_intent"))


def retrieve_charge(req: ApiRequest) -> dict[str, Any]:
    return _get(req, "charge", req.path_params["id"])


def list_charges(req: ApiRequest) -> dict[str, Any]:
    return req.filtered_page("charge", "/v1/charges", ("customer", "payment_intent"))
