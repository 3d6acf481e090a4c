"""Sandbox-only calls under /_sandbox, all with the secret key: reset state, manage webhook endpoints,
and what happens at Stripe out of the integration's sight (dashboard refunds, a bank's dispute decision)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import disputes, errors, objects, refunds, webhooks

if TYPE_CHECKING:
    from .api import ApiRequest

REGISTRATION_OFF = (
    "This sandbox delivers webhooks only to the endpoints it was configured with; "
    "endpoints cannot be registered through the API."
)


def reset(req: ApiRequest) -> dict[str, Any]:
    """Forget every object, idempotency key, queued delivery and registered endpoint; configured endpoints stay."""
    req.store.reset()
    return {"object": "sandbox.reset", "reset": True}


def create_endpoint(req: ApiRequest) -> dict[str, Any]:
    if not req.sandbox.config.allow_webhook_registration:
        raise errors.StripeError(403, "invalid_request_error", REGISTRATION_OFF)
    return webhooks.register(req.sandbox, req.params)


def list_endpoints(req: ApiRequest) -> dict[str, Any]:
    # As Stripe: an endpoint's signing secret is shown once, when it is created, never on a listing.
    data = [webhooks.without_secret(endpoint) for endpoint in webhooks.endpoints(req.sandbox)]
    return objects.list_object(data, has_more=False, url="/_sandbox/webhook_endpoints")


def delete_endpoint(req: ApiRequest) -> dict[str, Any]:
    return webhooks.unregister(req.sandbox, req.path_params["id"])


def forget_idempotency_keys(req: ApiRequest) -> dict[str, Any]:
    """Forget every idempotency key, as Stripe does after 24 hours; the objects stay. Lets a test show
    what a retry does once Stripe no longer recognises the key."""
    forgotten = req.store.forget_idempotency_keys()
    return {"object": "sandbox.idempotency_keys_forgotten", "forgotten": forgotten}


def dashboard_refund(req: ApiRequest) -> dict[str, Any]:
    return refunds.create_from_dashboard(req)


def decide_dispute(req: ApiRequest) -> dict[str, Any]:
    return disputes.decide(req)
