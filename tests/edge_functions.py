"""Edge functions named by the test specs (`edgeFunctionOnStatusChange: tests.edge_functions.record`)."""
from __future__ import annotations

from typing import Any

received: list[dict[str, Any]] = []
fail_next: list[bool] = []


async def record(request: dict[str, Any]) -> dict[str, Any]:
    """Keeps every call; fails once per `fail_next` entry, to exercise the relay's retries."""
    if fail_next:
        fail_next.pop()
        raise RuntimeError("edge function failed on purpose")
    received.append(request)
    return {"status": 200, "message": "Payment status change processed"}
