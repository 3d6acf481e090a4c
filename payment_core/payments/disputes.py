"""Disputes (chargebacks), from Stripe's `charge.dispute.*` webhooks: recorded on the payment record
(`dispute`), audited, published on `…-{object}payment-disputed`, and the order flagged (its
`paymentResultDisputed` status when the spec maps one). While a dispute is open refunds are refused:
the money is already held by the card network, and refunding would pay it back twice."""
from __future__ import annotations

import uuid
from typing import Any

from payment_core.clock import utcnow
from payment_core.events import write_event
from payment_core.money import json_amount
from payment_core.payments.flow import Flow, OrderPayments
from payment_core.payments.transitions import _mapped_status

CLOSED = ("won", "lost", "warning_closed")


def dispute_summary(dispute: dict[str, Any]) -> dict[str, Any]:
    status = dispute.get("status")
    return {"disputeId": dispute.get("id"), "status": status, "amount": dispute.get("amount"),
            "currency": str(dispute.get("currency") or "").upper(), "reason": dispute.get("reason"),
            "open": status not in CLOSED}


async def apply_dispute(flow: Flow, payments: OrderPayments, record: dict[str, Any],
                        dispute: dict[str, Any], event_type: str) -> str:
    """Record what Stripe says of a dispute on its payment; a closed dispute never reopens."""
    summary = dispute_summary(dispute)
    store = payments.store
    async with flow.db.engine.begin() as conn:
        order_uuid = uuid.UUID(record["orderId"])
        # The payment record, then the order: the order in which transitions lock them (no deadlock).
        record = await payments.records.lock_by_id(record["id"], conn=conn) or record
        row = (await conn.execute(store.lock_row_by_id, {"row_id": order_uuid})).first()
        known = record.get("dispute") or {}
        if known == summary or (known.get("disputeId") == summary["disputeId"] and not known.get("open", True)):
            return "ignored"  # the same, or an older report of a dispute already closed
        record = await payments.records.update_by_id(record["id"], {"dispute": summary}, conn=conn) or record
        await flow.audit.append(conn, store.lock_row_by_id, payments.name, str(order_uuid),
                                   "disputed" if summary["open"] else "dispute_closed",
                                   {**summary, "paymentId": record["paymentId"], "via": "webhook", "event": event_type})
        order = store.to_api(row) if row else {}
        mapped = _mapped_status(store, payments.scripts, "disputed", order) \
            if summary["open"] and row is not None and "disputed" in payments.scripts.status_for_result else None
        config = store.obj.order
        if mapped is not None and order.get(config.orderStatusProperty) != mapped:
            now = utcnow()
            order = store.to_api((await conn.execute(store.update_row_by_id, {
                "row_id": order_uuid, config.orderStatusProperty: mapped,
                config.orderStatusUpdateDateProperty: now, "updatedAt": now})).one())
        currency = summary["currency"]
        await write_event(conn, flow.outbox, flow.topics.payment(payments.service_name, payments.name, "disputed"), {
            payments.name: order, "orderId": str(order_uuid), "paymentId": record["paymentId"],
            "dispute": {**summary, "amount": json_amount(summary["amount"], currency)},
        }, key=str(order_uuid))
    return "processed"
