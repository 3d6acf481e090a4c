"""The one transition function: a Stripe payment intent's state, applied to an order.

Start, refresh and webhooks all end here. Stripe intent status → `statusLiteral`
(started / success / failed / canceled) → `_paymentConfirmation` (processing / paid /
canceled) → the spec's mapped order status and its update date. Transitions only
move forward and are applied with a conditional update, so concurrent callers
reporting the same intent state produce exactly one transition, one record update
and one event.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payment_core.mscript import MScriptError
from payment_core.objects import ObjectStore
from payment_core.spec import PAYMENT_CONFIRMATION, OrderScripts

log = logging.getLogger("orderpay.payments")

CONFIRMATION_FOR_LITERAL = {"started": "processing", "success": "paid", "failed": "canceled", "canceled": "canceled"}


def status_literal(intent: dict[str, Any]) -> str:
    status = intent["status"]
    if status == "succeeded":
        return "success"
    if status == "canceled":
        return "canceled"
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return "failed"
    return "started"


def stage(intent: dict[str, Any]) -> int:
    """How far an intent has come. A later report of an earlier stage (an out-of-order webhook) changes nothing."""
    status, literal = intent["status"], status_literal(intent)
    if literal == "failed":
        return 50
    return {"requires_payment_method": 10, "requires_confirmation": 20, "requires_action": 30, "processing": 40,
            "requires_capture": 45, "canceled": 60, "succeeded": 70}.get(status, 10)


TERMINAL_STAGES = (60, 70)
SETTLING_STAGE = 30  # requires_action and beyond: what a confirm call answers


@dataclass(frozen=True)
class Transition:
    record: dict[str, Any]  # the payment record's columns after the change
    order: dict[str, Any]  # the order as the API shows it after the change


async def apply_intent(
    conn: AsyncConnection,
    *,
    payments: Table,
    store: ObjectStore,
    scripts: OrderScripts,
    order_id: uuid.UUID,
    intent: dict[str, Any],
    attempt: int | None = None,
) -> Transition | None:
    """Apply `intent` to its order's payment record and the order, in the caller's transaction.

    Returns None when nothing changed: the record is already at this stage or beyond, the
    intent belongs to no known attempt, or the order is already paid. `attempt` (from the
    intent's metadata) lets a webhook that overtakes the start call claim the attempt.
    """
    new_stage, literal = stage(intent), status_literal(intent)
    now = datetime.now(timezone.utc)
    belongs = payments.c.paymentId == intent["id"]
    if attempt is not None:
        belongs = or_(belongs, and_(payments.c.attempt == attempt, payments.c.paymentId.is_(None)))
    values = dict(
        paymentId=intent["id"], paymentStatus=intent["status"], statusLiteral=literal, stage=new_stage,
        # Only an answer from the confirm settles the attempt: the `created` webhook can overtake it.
        attemptState="settled" if new_stage >= SETTLING_STAGE else payments.c.attemptState,
        lastError=_error_summary(intent), updatedAt=now,
        recordVersion=payments.c.recordVersion + 1,
    )
    # The conditional update is the transition: only one concurrent caller can move the stage forward.
    forward = and_(payments.c.orderId == order_id, belongs, payments.c.stage < new_stage,
                   payments.c.stage.notin_(TERMINAL_STAGES))
    row = (await conn.execute(update(payments).where(forward).values(**values).returning(*payments.c))).first()
    if row is None and literal == "success":
        # Money was taken on an intent that is no longer the current attempt (it cannot normally happen:
        # a new attempt cancels the old one first). The order is paid all the same.
        stale = and_(payments.c.orderId == order_id, payments.c.statusLiteral != "success")
        row = (await conn.execute(update(payments).where(stale).values(**values).returning(*payments.c))).first()
    if row is None:
        return None

    table = store.table
    current = (await conn.execute(select(table).where(table.c.id == order_id))).first()
    if current is None:
        return None
    order = store.to_api(current)
    if order.get(PAYMENT_CONFIRMATION) == "paid":
        return Transition(record=dict(row._mapping), order=order)  # paid never goes back
    config = store.obj.order
    changes: dict[str, Any] = {PAYMENT_CONFIRMATION: CONFIRMATION_FOR_LITERAL[literal], "updatedAt": now,
                               "recordVersion": table.c.recordVersion + 1}
    mapped = _mapped_status(store, scripts, literal, order)
    if mapped is not None:
        changes[config.orderStatusProperty] = mapped
    changes[config.orderStatusUpdateDateProperty] = now
    updated = (await conn.execute(update(table).where(table.c.id == order_id).values(**changes).returning(*table.c))).one()
    return Transition(record=dict(row._mapping), order=store.to_api(updated))


def _mapped_status(store: ObjectStore, scripts: OrderScripts, literal: str, order: dict[str, Any]) -> str | None:
    """The spec's status for this result, evaluated on the order as it is; None if the spec's
    expression fails or yields a value the status field cannot hold (logged: a spec bug must not
    block the payment from being recorded)."""
    field = store.obj.fields[store.obj.order.orderStatusProperty]
    try:
        mapped = scripts.status_for_result[literal].evaluate({store.obj.name: order})
    except MScriptError as exc:
        log.error("order status mapping failed", extra={"object": store.obj.name, "result": literal, "error": str(exc)})
        return None
    if not isinstance(mapped, str) or (field.values is not None and mapped not in field.values):
        log.error("order status mapping gave an invalid status", extra={"object": store.obj.name, "value": repr(mapped)})
        return None
    return mapped


def _error_summary(intent: dict[str, Any]) -> dict[str, Any] | None:
    error = intent.get("last_payment_error")
    if not error:
        return None
    return {key: error.get(key) for key in ("code", "decline_code", "message", "type")}
