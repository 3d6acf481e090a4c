"""The payments a turn prepared, followed while the turn runs, as `payment` turn events.

When `initiatePayment` returns a payment card, the turn emits a `payment` event
with the order's state (`pending`); while the turn is still running it asks the
order's status again every `chat_payment_watch_seconds`, and once more just
before its last event, emitting `payment` again whenever the state changed. The
events are the turn's own (stored, replayed on resume), so every dialect shows
the same states: the AI SDK stream as a `data-payment` part updated in place,
AG-UI as state snapshots and deltas.

The status is read through the model's read-only `getPaymentStatus` tool on the
server that prepared the payment, with the user's own token: nothing here can
move money or ask Stripe anything. A payment the buyer completes after the turn
ended is the card's to show (it refreshes itself).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bff.mcp_client import ToolSession
from bff.scrub import FRONTEND_ACTION

log = logging.getLogger("orderpay.bff.payments")

PAYMENT_EVENT = "payment"
STATUS_TOOL = "getPaymentStatus"
_SHOWN_FIELDS = ("orderId", "orderType", "serviceName", "amount", "amountMinor", "currency", "description")

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


def payment_id(order_type: str, order_id: str) -> str:
    """The id a payment's part or state entry keeps through its updates."""
    return f"payment-{order_type}-{order_id}"


@dataclass
class WatchedPayment:
    server: str
    state: dict[str, Any]  # the last `payment` event's data


class PaymentWatch:
    """The payments one turn prepared, and their last known state."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.payments: dict[str, WatchedPayment] = {}

    async def tool_result(self, tools: ToolSession, data: dict[str, Any]) -> None:
        """Called with each `tool_result` event: a payment card starts a `payment` entry."""
        result = data.get("result")
        action = result.get(FRONTEND_ACTION) if isinstance(result, dict) and data.get("success") else None
        if not isinstance(action, dict) or action.get("type") != "payment" or not action.get("orderId"):
            return
        tool = tools.find(data.get("tool", ""))
        state = {"id": payment_id(str(action.get("orderType")), str(action["orderId"])),
                 **{name: action.get(name) for name in _SHOWN_FIELDS if name in action},
                 "status": "pending", "orderStatus": None}
        self.payments[state["id"]] = WatchedPayment(tool.server if tool else "", state)
        await self._emit(PAYMENT_EVENT, state)

    async def check(self, tools: ToolSession) -> None:
        """Ask each payment's status; emit `payment` for each that changed."""
        for watched in list(self.payments.values()):
            status_tool = next((t for t in tools.tools if t.server == watched.server and t.original_name == STATUS_TOOL),
                               None)
            if status_tool is None:
                continue
            outcome = await tools.call(status_tool.name, {"orderType": watched.state["orderType"],
                                                          "orderId": watched.state["orderId"]})
            found = outcome.ui_result if outcome.ok and isinstance(outcome.ui_result, dict) else None
            if found is None:
                log.info("payment status unavailable", extra={"error": outcome.error})
                continue
            status = found.get("_paymentConfirmation")
            if status and status != watched.state["status"]:
                watched.state = {**watched.state, "status": status, "orderStatus": found.get("orderStatus")}
                await self._emit(PAYMENT_EVENT, watched.state)
