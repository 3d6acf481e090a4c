"""The transition: a Stripe payment intent's state, applied to an order.

Start, refresh, the reconciler and webhooks all end here (`Transitions.apply`). Stripe intent status → `statusLiteral`
(started / success / failed / canceled) → `_paymentConfirmation` (processing / paid /
canceled) → the spec's mapped order status and its update date. Transitions only
move forward and are applied with a conditional update, so concurrent callers
reporting the same intent state produce exactly one transition, one record update
and one event. `apply` writes, in the same transaction, the record's and the order's events
and the audit entries; a succeeded charge that pays for nothing is refunded.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, Update, and_, bindparam, or_, update
from sqlalchemy.sql.elements import ColumnElement

from payment_core import metrics
from payment_core.audit import audit_path
from payment_core.clock import utcnow
from payment_core.errors import OrderPayError
from payment_core.events import insert_events, write_event
from payment_core.identity import Session
from payment_core.money import json_amount
from payment_core.mscript import MScriptError
from payment_core.objects import ObjectStore
from payment_core.payments.flow import Flow, OrderPayments, PaymentOutcome
from payment_core.spec import PAYMENT_CONFIRMATION, OrderScripts

log = logging.getLogger("orderpay.payments")

CONFIRMATION_FOR_LITERAL = {"started": "processing", "success": "paid", "failed": "canceled", "canceled": "canceled"}
# The flow's event name → the path that applied a Stripe state (the audit entry's `via`).
PATHS = {"started": "start", "refreshed": "refresh", "calledback": "webhook"}


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

    def __init__(self, payments: Table, orders: Table) -> None:
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
        # The order's side of a transition, unless it is paid already (paid never goes back).
        self.order_unless_paid = _versioned_update(
            orders, and_(orders.c.id == bindparam("w_order"), orders.c[PAYMENT_CONFIRMATION].is_distinct_from("paid")))


@dataclass(frozen=True)
class Transition:
    record: dict[str, Any]  # the payment record's columns after the change
    order: dict[str, Any]  # the order as the API shows it after the change
    order_locked: bool  # whether the transition changed the order (and so holds its row lock)


def apply_intent(
    conn: Connection,
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
    now = utcnow()
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
    row = conn.execute(statements.forward[attempt is not None], {**values, **where}).first()
    if row is None and literal == "success":
        # Money was taken on an intent that is no longer the current attempt (it cannot normally happen:
        # a new attempt cancels the old one first). The order is paid all the same.
        row = conn.execute(statements.unpaid, {**values, "w_order": order_id, **terms}).first()
    if row is None:
        return None

    config = store.obj.order
    changes: dict[str, Any] = {PAYMENT_CONFIRMATION: CONFIRMATION_FOR_LITERAL[literal], "updatedAt": now,
                               config.orderStatusUpdateDateProperty: now}
    if not scripts.status_for_result[literal].references:
        # The spec maps this result to a status whatever the order holds: the order is changed without
        # being read first, unless it is paid.
        mapped = _mapped_status(store, scripts, literal, {})
        if mapped is not None:
            changes[config.orderStatusProperty] = mapped
        updated = conn.execute(statements.order_unless_paid, {**changes, "w_order": order_id}).first()
        if updated is not None:
            return Transition(record=dict(row._mapping), order=store.to_api(updated), order_locked=True)
    current = conn.execute(store.row_by_id, {"row_id": order_id}).first()
    if current is None:
        return None
    order = store.to_api(current)
    if order.get(PAYMENT_CONFIRMATION) == "paid":
        return Transition(record=dict(row._mapping), order=order, order_locked=False)  # paid never goes back
    mapped = _mapped_status(store, scripts, literal, order)
    if mapped is not None:
        changes[config.orderStatusProperty] = mapped
    updated = conn.execute(store.update_row_by_id, {**changes, "row_id": order_id}).one()
    return Transition(record=dict(row._mapping), order=store.to_api(updated), order_locked=True)


class Transitions:
    """Applies what Stripe says of an intent (start, refresh, reconciler, webhook all call `apply`):
    the transition, its record and order events, its audit entries, and the refund of a charge
    that pays for nothing."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.statements = {name: TransitionStatements(payments.table, payments.store.table)
                           for name, payments in flow.orders.items()}

    async def apply(self, payments: OrderPayments, intent: dict[str, Any], event: str, *,
                    user_params: dict[str, Any] | None = None, webhook: dict[str, Any] | None = None,
                    attempt: int | None = None, session: Session | None = None) -> PaymentOutcome:
        """Apply `intent` in one transaction with its events and audit entries; `event` (started /
        refreshed / calledback) names the path. Answers the order and paymentResult as they now are."""
        order_id = uuid.UUID(intent.get("metadata", {}).get("orderId") or "00000000-0000-0000-0000-000000000000")
        statements = self.statements[payments.name]
        via = audit_path.get() or PATHS.get(event, event)  # read here: the unit runs where context does not follow

        def unit(conn: Connection) -> tuple[Transition | None, dict[str, Any] | None, dict[str, Any]]:
            transition = apply_intent(conn, statements=statements, store=payments.store, scripts=payments.scripts,
                                      order_id=order_id, intent=intent, attempt=attempt)
            if transition is None:  # nothing changed: report the state as it is
                row = conn.execute(payments.store.row_by_id, {"row_id": order_id}).first()
                return None, payments.records.first(conn, {"orderId": order_id}), payments.store.to_api(row) if row else {}
            record = payments.records.from_columns(transition.record)
            self._record_transition(conn, payments, transition, record, intent, event, user_params, webhook, session, via)
            return transition, record, transition.order

        transition, record, order = await self.flow.db.write(unit)
        if transition is not None:  # committed: count it (once: the transition is a conditional update)
            metrics.payment_transition(self.flow.app.codename, payments.name, transition.record["statusLiteral"])
            log.info("payment transition", extra={"object": payments.name, "orderId": transition.order["id"],
                                                  "paymentId": intent["id"], "status": intent["status"], "via": event})
        if transition is None and intent["status"] == "succeeded" and not (
                record is not None and record["paymentId"] == intent["id"] and record["statusLiteral"] == "success"):
            # Money taken that pays for nothing: a second charge of a paid order, or not the attempt's terms.
            reason = "order_already_paid" if order.get(PAYMENT_CONFIRMATION) == "paid" else "terms_mismatch"
            try:
                await self._refund_unwanted(payments, intent, reason)
            except OrderPayError as exc:
                if webhook is not None:
                    raise  # the delivery fails and Stripe delivers it again: the refund is retried
                log.error("refunding an unwanted charge failed", extra={"paymentId": intent["id"], "reason": exc.message})
            if record is not None and record["paymentId"] == intent["id"]:
                record = {**record, "statusLiteral": "failed"}  # never report a refunded charge as paid
        return PaymentOutcome(order, self.flow.result(record, intent, user_params))

    def _record_transition(self, conn: Connection, payments: OrderPayments, transition: Transition,
                           record: dict[str, Any], intent: dict[str, Any], event: str, user_params: dict[str, Any] | None,
                           webhook: dict[str, Any] | None, session: Session | None, via: str) -> None:
        """The transition's events and audit entries, in its transaction (`record`: its record as the API shows it)."""
        # The seeds' edge-function request: the latest order under its object name, and the session if any.
        payload: dict[str, Any] = {payments.name: transition.order, "session": _session_json(session)}
        if webhook is not None:
            payload["webhookData"] = without_client_secret(webhook)
        else:
            payload["paymentResult"] = self.flow.result(record, intent, user_params, with_secret=False)
        topic = self.flow.topics.payment(payments.service_name, payments.name, event)
        insert_events(conn, self.flow.outbox, [
            (f"{payments.records.topic}-updated", {"record": record}, record["id"]),
            (topic, payload, transition.order["id"]),
        ])
        self._audit(conn, payments, transition, intent, via)

    def _audit(self, conn: Connection, payments: OrderPayments, transition: Transition, intent: dict[str, Any],
               via: str) -> None:
        """The audit entries of a Stripe state applied to the order (inside the transition's transaction):
        `intent_created` the first time its intent is seen, then `stripe_state`, both in one statement
        after one read of the chain, under the order's lock (taken here unless the transition holds it:
        it changed the order)."""
        order_id = str(transition.order["id"])
        audit = self.flow.audit
        end, created = audit.end_and_kind(conn, payments.name, order_id, "intent_created",
                                          lock=None if transition.order_locked else payments.store.lock_row_by_id)
        currency = str(intent.get("currency") or "").upper()
        entries: list[tuple[str, dict[str, Any]]] = []
        if not any(data.get("paymentId") == intent["id"] for data in created):
            entries.append(("intent_created", {"paymentId": intent["id"], "amount": intent.get("amount"),
                                               "currency": currency, "attempt": transition.record.get("attempt")}))
        entries.append(("stripe_state", {
            "paymentId": intent["id"], "status": intent["status"], "statusLiteral": transition.record.get("statusLiteral"),
            "amount": intent.get("amount"), "currency": currency,
            "via": via, "paymentConfirmation": transition.order.get("_paymentConfirmation")}))
        audit.add_after(conn, end, payments.name, order_id, entries)

    async def _refund_unwanted(self, payments: OrderPayments, intent: dict[str, Any], reason: str) -> None:
        """A succeeded charge that pays nothing (the order is already paid by another, or the charge is not
        for the terms of its attempt) is refunded in full, logged and published."""
        metadata = intent.get("metadata") or {}
        refunds = await self.flow.gateway.list_refunds(intent["id"])
        if any(refund.get("status") not in ("failed", "canceled") for refund in refunds):
            return  # refunded before (by us or by a person)
        refund = await self.flow.gateway.refund_intent(intent["id"], reason="duplicate", metadata={
            "orderpayApp": self.flow.app.codename, "orderId": str(metadata.get("orderId")), "orderpayReason": reason})
        log.warning("unwanted charge refunded", extra={"object": payments.name, "orderId": metadata.get("orderId"),
                                                       "paymentId": intent["id"], "refundId": refund["id"], "reason": reason})
        currency = str(intent.get("currency") or "").upper()
        async with self.flow.db.engine.begin() as conn:
            topic = self.flow.topics.payment(payments.service_name, payments.name, "autorefunded")
            await write_event(conn, self.flow.outbox, topic, {
                "orderId": metadata.get("orderId"), "paymentId": intent["id"], "refundId": refund["id"],
                "refundStatus": refund.get("status"), "reason": reason,
                "amount": json_amount(intent.get("amount"), currency),
                "currency": currency or None,
            }, key=str(metadata.get("orderId")))


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


def without_client_secret(event: dict[str, Any]) -> dict[str, Any]:
    """A webhook event as events and the stored delivery may carry it: the intent's client secret
    (and the next-action URLs that embed it) stay out of the outbox, the broker and the database."""
    intent = dict((event.get("data") or {}).get("object") or {})
    intent.pop("client_secret", None)
    intent.pop("next_action", None)
    return {**event, "data": {**(event.get("data") or {}), "object": intent}}


def _session_json(session: Session | None) -> dict[str, Any] | None:
    if session is None:
        return None
    return {"userId": session.user_id, "email": session.email, "fullname": session.full_name, "roles": list(session.roles)}
