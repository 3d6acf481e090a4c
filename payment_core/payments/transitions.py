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

from sqlalchemy import Table, Update, and_, bindparam, or_, update
from sqlalchemy.sql.elements import ColumnElement
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


class TransitionStatements:
    """The transition's statements for one payments table, built once: building and cache-keying an
    `UPDATE ... RETURNING` costs more than running it. The `w_` parameters are the WHERE clause's;
    the others, named after columns, are the values to SET."""

    def __init__(self, payments: Table) -> None:
        c = payments.c
        this_order = c.orderId == bindparam("w_order")
        by_intent = c.paymentId == bindparam("w_intent")
        # A webhook that overtakes the start's answer claims the attempt its intent names.
        by_attempt = or_(by_intent, and_(c.attempt == bindparam("w_attempt"), c.paymentId.is_(None)))
        moves_forward = and_(c.stage < bindparam("w_stage"), c.stage.notin_(TERMINAL_STAGES))
        # An intent applies only to the attempt that asked for exactly its amount and currency: a
        # changed order, or an intent made by someone else with our metadata, never marks it paid.
        same_terms = and_(c.amount == bindparam("w_amount"), c.currency == bindparam("w_currency"))
        self.forward = {False: _versioned_update(payments, and_(this_order, by_intent, moves_forward, same_terms)),
                        True: _versioned_update(payments, and_(this_order, by_attempt, moves_forward, same_terms))}
        self.unpaid = _versioned_update(payments, and_(this_order, c.statusLiteral != "success", same_terms))


@dataclass(frozen=True)
class Transition:
    record: dict[str, Any]  # the payment record's columns after the change
    order: dict[str, Any]  # the order as the API shows it after the change


async def apply_intent(
    conn: AsyncConnection,
    *,
    statements: TransitionStatements,
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
    values: dict[str, Any] = dict(
        paymentId=intent["id"], paymentStatus=intent["status"], statusLiteral=literal, stage=new_stage,
        lastError=_error_summary(intent), updatedAt=now,
    )
    if new_stage >= SETTLING_STAGE:  # only an answer from the confirm settles the attempt: the `created` webhook can overtake it
        values["attemptState"] = "settled"
    terms = {"w_amount": intent.get("amount"), "w_currency": str(intent.get("currency") or "").upper()}
    where = {"w_order": order_id, "w_intent": intent["id"], "w_stage": new_stage, **terms}
    if attempt is not None:
        where["w_attempt"] = attempt
    # The conditional update is the transition: only one concurrent caller can move the stage forward.
    row = (await conn.execute(statements.forward[attempt is not None], {**values, **where})).first()
    if row is None and literal == "success":
        # Money was taken on an intent that is no longer the current attempt (it cannot normally happen:
        # a new attempt cancels the old one first). The order is paid all the same.
        row = (await conn.execute(statements.unpaid, {**values, "w_order": order_id, **terms})).first()
    if row is None:
        return None

    current = (await conn.execute(store.row_by_id, {"row_id": order_id})).first()
    if current is None:
        return None
    order = store.to_api(current)
    if order.get(PAYMENT_CONFIRMATION) == "paid":
        return Transition(record=dict(row._mapping), order=order)  # paid never goes back
    config = store.obj.order
    changes: dict[str, Any] = {PAYMENT_CONFIRMATION: CONFIRMATION_FOR_LITERAL[literal], "updatedAt": now}
    mapped = _mapped_status(store, scripts, literal, order)
    if mapped is not None:
        changes[config.orderStatusProperty] = mapped
    changes[config.orderStatusUpdateDateProperty] = now
    updated = (await conn.execute(store.update_row_by_id, {**changes, "row_id": order_id})).one()
    return Transition(record=dict(row._mapping), order=store.to_api(updated))


def _versioned_update(table: Table, where: ColumnElement[bool]) -> Update:
    return update(table).where(where).values(recordVersion=table.c.recordVersion + 1).returning(*table.c)


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
