"""Asking Stripe again: the buyer's refresh (seed 004's polling API) and the reconciler.

Every failure of the flow is "nothing happened" or "outcome unknown"; the unknown ones are
recovered here without anyone clicking: a refresh applies the intent as Stripe has it now, and
the reconciler sweeps attempts left `calling` or in flight for too long and does the same.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update

from payment_core import metrics
from payment_core.audit import applied_by
from payment_core.clock import utcnow
from payment_core.errors import OrderPayError
from payment_core.identity import Session
from payment_core.payments.aftersale import AfterSale
from payment_core.payments.attempts import Attempts
from payment_core.payments.flow import IN_FLIGHT_STATUSES, Flow, PaymentOutcome
from payment_core.payments.transitions import Transitions

log = logging.getLogger("orderpay.payments")


class Refresh:
    def __init__(self, flow: Flow, attempts: Attempts, transitions: Transitions, after_sale: AfterSale) -> None:
        self.flow, self.attempts, self.transitions, self.after_sale = flow, attempts, transitions, after_sale

    async def payment_state(self, session: Session, object_name: str, order_id: str) -> PaymentOutcome:
        """The order and its payment as last recorded, without asking Stripe (a read: no writes)."""
        payments = self.flow.order_payments(object_name)
        order = await payments.store.get(session, order_id)
        record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])})
        return PaymentOutcome(order, self.flow.result(record, None, with_secret=False))

    async def refresh_payment(self, session: Session, object_name: str, order_id: str) -> PaymentOutcome:
        """Fetch the current intent from Stripe and apply it (seed 004's refresh API, for polling). An
        attempt whose answer was lost (no intent id yet) is looked up at Stripe by its metadata."""
        payments = self.flow.order_payments(object_name)
        order = await payments.store.get(session, order_id)
        record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])})
        if record is None:
            return PaymentOutcome(order, None)
        if not record["paymentId"]:
            if record["attemptState"] == "calling":
                state, outcome = await self.attempts.resolve_attempt(payments, record)
                if outcome is not None:
                    return outcome
                if state == "settled":
                    record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])}) or record
            return PaymentOutcome(order, self.flow.result(record, None))
        intent = await self.flow.gateway.retrieve_intent(record["paymentId"])
        outcome = await self.transitions.apply(payments, intent, "refreshed", session=session)
        return await self.after_sale.refreshed(payments, outcome)

    async def reconcile(self, *, older_than: float, limit: int = 50) -> int:
        """Apply Stripe's truth to attempts left `calling`, `requires_action` or `processing` for longer
        than `older_than` seconds; returns how many were looked at. Safe on many replicas at once: each
        record is claimed with a conditional UPDATE (its version), which one replica alone wins, and
        the claim's new `updatedAt` keeps the others off it for another `older_than` seconds."""
        done = 0
        with applied_by("reconciler"):  # the audit entries of this pass say who applied them
            for payments in self.flow.orders.values():
                table = payments.table
                stale = (select(table).where(
                    table.c.isActive.is_(True),
                    or_(table.c.attemptState == "calling", table.c.paymentStatus.in_(IN_FLIGHT_STATUSES)),
                    table.c.updatedAt < utcnow() - timedelta(seconds=older_than),
                ).order_by(table.c.updatedAt).limit(limit))
                async with self.flow.db.engine.connect() as conn:
                    candidates = (await conn.execute(stale)).all()
                for row in candidates:
                    now = utcnow()
                    async with self.flow.db.engine.begin() as conn:
                        won = (await conn.execute(
                            update(table).where(table.c.id == row.id, table.c.recordVersion == row.recordVersion)
                            .values(updatedAt=now, recordVersion=table.c.recordVersion + 1).returning(*table.c))).first()
                    if won is None:
                        continue  # another replica (or the buyer) got there first
                    record = payments.records.to_api(won)
                    try:
                        if record["paymentId"]:
                            intent = await self.flow.gateway.retrieve_intent(record["paymentId"])
                            await self.transitions.apply(payments, intent, "refreshed")
                        else:
                            updated_at = row.updatedAt if row.updatedAt.tzinfo else row.updatedAt.replace(tzinfo=now.tzinfo)
                            await self.attempts.resolve_attempt(payments, record, age=(now - updated_at).total_seconds())
                    except OrderPayError as exc:  # Stripe unavailable: the next pass tries again
                        log.warning("reconciling a payment failed", extra={"orderId": record["orderId"], "reason": exc.message})
                    done += 1
        return done

    async def run_reconciler(self, *, older_than: float, interval: float) -> None:
        """The reconciler's loop, one per process (the runtime starts it)."""
        while True:
            try:
                metrics.reconciler_sweep(self.flow.app.codename, await self.reconcile(older_than=older_than))
            except Exception:  # never let one bad pass stop recovery
                log.exception("payment reconciliation pass failed")
            await asyncio.sleep(interval)
