"""Sandbox-only calls under /_sandbox (secret-key authenticated): reset state, manage webhook endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import objects, webhooks

if TYPE_CHECKING:
    from .api import ApiRequest


def reset(req: ApiRequest) -> dict[str, Any]:
    """Forget every object, idempotency key, queued delivery and registered endpoint; configured endpoints stay."""
    req.store.reset()
    return {"object": "sandbox.reset", "reset": True}


def create_endpoint(req: ApiRequest) -> dict[str, Any]:
    return webhooks.register(req.sandbox, req.params)


def list_endpoints(req: ApiRequest) -> dict[str, Any]:
    data = webhooks.endpoints(req.sandbox)
    return objects.list_object(data, has_more=False, url="/_sandbox/webhook_endpoints")


def delete_endpoint(req: ApiRequest) -> dict[str, Any]:
    return webhooks.unregister(req.sandbox, req.path_params["id"])


def forget_idempotency_keys(req: ApiRequest) -> dict[str, Any]:
    """Forget every idempotency key, as Stripe does after 24 hours; the objects stay. Lets a test show
    what a retry does once Stripe no longer recognises the key."""
    forgotten = req.store.forget_idempotency_keys()
    return {"object": "sandbox.idempotency_keys_forgotten", "forgotten": forgotten}
