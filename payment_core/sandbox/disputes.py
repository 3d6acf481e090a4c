"""Disputes: the bank of a buyer who pays with 4000 0000 0000 0259 charges the payment back shortly
after it succeeds, as Stripe's test card does; the merchant accepts it (`/v1/disputes/{id}/close`) or
the bank decides it (`/_sandbox/disputes/{id}/close`, the sandbox's stand-in for Stripe's evidence review)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import errors, events, objects
from .params import check_allowed, get_enum, updated_metadata

if TYPE_CHECKING:
    from .api import ApiRequest
    from .runtime import Origin, Sandbox

OPEN = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")


def schedule(sandbox: Sandbox, charge_id: str) -> None:
    """Open a dispute on the charge after `dispute_delay` (a background job), as the bank does later."""
    sandbox.store.add_job("dispute", {"charge": charge_id}, time.time() + sandbox.config.dispute_delay)


def open_dispute(sandbox: Sandbox, charge_id: str) -> None:
    """The background job: the charge is disputed as fraudulent and its amount withdrawn."""
    with sandbox.store.transaction():
        charge = sandbox.store.get(charge_id)
        if charge is None or charge["disputed"]:
            return  # reset meanwhile
        dispute = sandbox.store.put(objects.dispute(charge, reason="fraudulent"))
        sandbox.store.set_private(charge_id, {**sandbox.store.get_private(charge_id), "dispute": dispute["id"]})
        sandbox.store.put({**charge, "disputed": True})
        events.emit(sandbox, "charge.dispute.created", dispute, None)
        events.emit(sandbox, "charge.dispute.funds_withdrawn", dispute, None)


def dispute_of(sandbox: Sandbox, charge: dict[str, Any]) -> dict[str, Any] | None:
    dispute_id = sandbox.store.get_private(charge["id"]).get("dispute")
    return sandbox.store.get(dispute_id) if dispute_id else None


def get_dispute(req: ApiRequest) -> dict[str, Any]:
    found = req.store.get(req.path_params["id"])
    if found is None or found["object"] != "dispute":
        raise errors.no_such("dispute", req.path_params["id"])
    return found


def close(sandbox: Sandbox, dispute: dict[str, Any], outcome: str, origin: Origin | None) -> dict[str, Any]:
    """End an open dispute `won` (the money comes back) or `lost`; `charge.dispute.closed` follows."""
    if dispute["status"] not in OPEN:
        raise errors.invalid_request(f"This dispute is already closed (status {dispute['status']}).")
    previous = {"status": dispute["status"]}
    dispute = sandbox.store.put({**dispute, "status": outcome, "is_charge_refundable": outcome == "won"})
    events.emit(sandbox, "charge.dispute.closed", dispute, origin, previous_attributes=previous)
    if outcome == "won":
        events.emit(sandbox, "charge.dispute.funds_reinstated", dispute, origin)
    return dispute


# Handlers


def retrieve(req: ApiRequest) -> dict[str, Any]:
    return get_dispute(req)


def update(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, ("metadata",))
    dispute = get_dispute(req)
    return req.store.put({**dispute, "metadata": updated_metadata(req.params, dispute["metadata"])})


def accept(req: ApiRequest) -> dict[str, Any]:
    """`POST /v1/disputes/{id}/close`: the merchant gives up the dispute, which is then lost."""
    check_allowed(req.params, ())
    return close(req.sandbox, get_dispute(req), "lost", req.origin)


def decide(req: ApiRequest) -> dict[str, Any]:
    """`POST /_sandbox/disputes/{id}/close` with `status=won|lost`: the bank's decision."""
    check_allowed(req.params, ("status",))
    outcome = get_enum(req.params, "status", ("won", "lost"), required=True)
    assert outcome is not None
    return close(req.sandbox, get_dispute(req), outcome, req.origin)


def list_disputes(req: ApiRequest) -> dict[str, Any]:
    return req.filtered_page("dispute", "/v1/disputes", ("charge", "payment_intent"))
