"""Events: recorded for every state change Stripe reports, readable through /v1/events, queued for webhooks."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import objects, webhooks
from .errors import no_such

if TYPE_CHECKING:
    from .api import ApiRequest
    from .runtime import Origin, Sandbox


def emit(
    sandbox: Sandbox,
    type: str,
    obj: dict[str, Any],
    origin: Origin | None,
    *,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record an event with a snapshot of `obj` and queue its webhook deliveries (call inside a transaction)."""
    event = objects.event(
        type,
        copy.deepcopy(obj),
        api_version=sandbox.api_version,
        request_id=origin.request_id if origin else None,
        idempotency_key=origin.idempotency_key if origin else None,
        previous_attributes=copy.deepcopy(previous_attributes),
    )
    sandbox.store.put(event)
    event["pending_webhooks"] = webhooks.schedule(sandbox, event)
    return sandbox.store.put(event)


def retrieve(req: ApiRequest) -> dict[str, Any]:
    event = req.store.get(req.path_params["id"])
    if event is None or event["object"] != "event":
        raise no_such("event", req.path_params["id"])
    return event


def list_events(req: ApiRequest) -> dict[str, Any]:
    return req.filtered_page("event", "/v1/events", ("type",))
