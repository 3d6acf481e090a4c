"""Edge functions named by the test specs (`edgeFunctionOnStatusChange: tests.edge_functions.record`)."""
from __future__ import annotations

from typing import Any

received: list[dict[str, Any]] = []
fail_next: list[bool] = []
poison_orders: set[str] = set()  # order ids whose events always fail (dead-letter tests)


async def record(request: dict[str, Any]) -> dict[str, Any]:
    """Keeps every call; fails once per `fail_next` entry, to exercise the relay's retries, and
    always for an order in `poison_orders`."""
    if (request.get("order") or {}).get("id") in poison_orders:
        raise RuntimeError("edge function always fails for this order")
    if fail_next:
        fail_next.pop()
        raise RuntimeError("edge function failed on purpose")
    received.append(request)
    return {"status": 200, "message": "Payment status change processed"}
