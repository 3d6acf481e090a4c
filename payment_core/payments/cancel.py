"""Cancelling an unpaid order's open payment, by its buyer: the intent is cancelled at Stripe (so
a 3-D Secure page left open can no longer complete it), the cancellation is applied like any
Stripe state (`paymentResultCanceled`), and the pay links issued before it stop working."""
from __future__ import annotations

import uuid

from payment_core.clock import utcnow
from payment_core.errors import Conflict, NotFound
from payment_core.identity import Session
from payment_core.payments.flow import Flow, PaymentOutcome
from payment_core.payments.transitions import Transitions
from payment_core.spec import PAYMENT_CONFIRMATION

CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


async def cancel_payment(flow: Flow, transitions: Transitions, session: Session, object_name: str,
                         order_id: str) -> PaymentOutcome:
    payments = flow.order_payments(object_name)
    order = await payments.store.get(session, order_id)
    if order.get(payments.store.obj.owner_property) != session.user_id and not session.is_super_admin:
        raise NotFound()
    record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])})
    if order.get(PAYMENT_CONFIRMATION) == "paid" or (record is not None and record["statusLiteral"] == "success"):
        raise Conflict(f"this {payments.name} is paid: it can be refunded by the merchant, not cancelled")
    if record is None or not record["paymentId"] or record["paymentStatus"] not in CANCELABLE \
            or record["statusLiteral"] in ("canceled", "failed"):
        if record is not None and record["attemptState"] == "calling":
            raise Conflict("the payment is being confirmed right now; try again in a moment")
        raise Conflict(f"this {payments.name} has no open payment to cancel")
    intent = await flow.gateway.cancel_intent(record["paymentId"])  # or its state, if it moved on meanwhile
    if intent["status"] == "succeeded":  # paid on the 3-D Secure page just before: that stands
        await transitions.apply(payments, intent, "refreshed", session=session)
        raise Conflict(f"this {payments.name} was paid before it could be cancelled")
    async with flow.db.engine.begin() as conn:
        await payments.records.update_by_id(record["id"], {"canceledAt": utcnow()}, conn=conn)
        await flow.audit.append(conn, payments.store.lock_row_by_id, payments.name, order["id"], "canceled",
                                   {"by": session.user_id, "paymentId": record["paymentId"], "stripeStatus": intent["status"]})
    return await transitions.apply(payments, intent, "refreshed", session=session)
