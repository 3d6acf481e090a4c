"""After the sale: what the payment flow hands over once money moved (or was about to).

One object the flow holds (`PaymentService.after_sale`): refunds, refund requests, disputes,
cancellation, the Stripe webhooks about them, and the audit trail of an order's payment as people
read it (the transition writes the entries of each Stripe state it applies). Its logic lives in
refunds.py, disputes.py, cancel.py and payment_core/audit.py.
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

from sqlalchemy import MetaData

from payment_core.audit import applied_by
from payment_core.errors import Forbidden, NotFound
from payment_core.identity import Session
from payment_core.objects import parse_uuid
from payment_core.payments.cancel import cancel_payment
from payment_core.payments.checkout import CheckoutSummary
from payment_core.payments.disputes import apply_dispute
from payment_core.payments.flow import Flow, OrderPayments, PaymentOutcome
from payment_core.payments.refunds import Refunds, may_refund
from payment_core.payments.transitions import Transitions
REFUND_EVENTS = ("charge.refunded", "charge.refund.updated", "refund.created", "refund.updated", "refund.failed")


class AfterSale:
    def __init__(self, flow: Flow, transitions: Transitions, metadata: MetaData) -> None:
        self.flow, self.transitions = flow, transitions
        self.audit = flow.audit
        self.refunds = Refunds(flow, metadata)

    def topic_events(self) -> tuple[str, ...]:
        return ("refunded", "refundrequested", "disputed")

    # -- Stripe's webhooks about charges -------------------------------------------

    @staticmethod
    def handles(event_type: str) -> bool:
        """Whether `handle_event` acts on events of this type (others are ignored whatever they say)."""
        return event_type in REFUND_EVENTS or event_type.startswith("charge.dispute.")

    async def handle_event(self, event: dict[str, Any]) -> str:
        """A `charge.refunded`, `refund.*` or `charge.dispute.*` event: applied to the payment it names,
        re-reading Stripe for refunds (events can arrive in any order)."""
        event_type = event["type"]
        if not self.handles(event_type):
            return "ignored"
        obj = (event.get("data") or {}).get("object") or {}
        intent_id = obj.get("payment_intent")
        found = await self._payment_of(intent_id) if isinstance(intent_id, str) else None
        if found is None:
            return "ignored"  # not one of ours (Stripe accounts are shared), or not paid through orderpay
        payments, record = found
        if event_type.startswith("charge.dispute."):
            return await apply_dispute(self.flow, payments, record, obj, event_type)
        await self.refunds.sync(payments, intent_id, via="webhook")
        return "processed"

    async def _payment_of(self, intent_id: str) -> tuple[OrderPayments, dict[str, Any]] | None:
        for payments in self.flow.orders.values():
            record = await payments.records.get_by_query({"paymentId": intent_id})
            if record is not None:
                return payments, record
        return None

    async def refreshed(self, payments: OrderPayments, outcome: PaymentOutcome) -> PaymentOutcome:
        """After a refresh of a paid order: its refunds as Stripe has them (a dashboard refund shows up)."""
        result = outcome.payment_result or {}
        if result.get("statusLiteral") != "success" or not result.get("paymentId"):
            return outcome
        order, _ = await self.refunds.sync(payments, result["paymentId"], via="refresh")
        return dataclasses.replace(outcome, order=order or outcome.order)

    # -- what people do --------------------------------------------------------------

    async def refund(self, session: Session, object_name: str, order_id: str, body: dict[str, Any],
                     request_key: str | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        return await self.refunds.refund(session, object_name, order_id, body, request_key)

    async def cancel(self, session: Session, object_name: str, order_id: str) -> PaymentOutcome:
        with applied_by("cancel"):
            return await cancel_payment(self.flow, self.transitions, session, object_name, order_id)

    async def canceled_at(self, object_name: str, order_id: str) -> Any:
        """When the buyer last cancelled this order's payment (None if never): pay links issued
        before it are refused."""
        record = await self.flow.order_payments(object_name).records.get_by_query({"orderId": uuid.UUID(order_id)})
        return (record or {}).get("canceledAt")

    # -- the audit trail -------------------------------------------------------------

    async def prepared(self, session: Session, summary: CheckoutSummary, *, tool: str, client: dict[str, Any]) -> None:
        """`initiatePayment` prepared a payment and showed its quote (no money moved)."""
        payments = self.flow.order_payments(summary.object_name)
        order_id = summary.order["id"]
        async with self.flow.db.engine.begin() as conn:
            await self.audit.append(conn, payments.store.lock_row_by_id, payments.name, order_id, "prepared",
                                    {"tool": tool, "by": session.user_id, **client})
            await self.audit.append(conn, payments.store.lock_row_by_id, payments.name, order_id, "quote_shown", {
                "amountMinor": summary.amount_minor, "currency": summary.currency, "description": summary.description,
                "quoteVersion": summary.version})

    async def trail(self, session: Session, object_name: str, order_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The order and its audit entries, for its owner and administrators."""
        payments = self.flow.order_payments(object_name)
        if may_refund(session, payments):  # the merchant's people see every order's trail
            order_uuid = parse_uuid(order_id, field=payments.store.obj.id_param)
            row = await self.flow.db.read(lambda conn: conn.execute(payments.store.row_by_id, {"row_id": order_uuid}).first())
            if row is None:
                raise NotFound()
            order = payments.store.to_api(row)
        else:
            order = await payments.store.get(session, order_id)
            if order.get(payments.store.obj.owner_property) != session.user_id:
                raise NotFound()
        return order, await self.audit.entries(payments.name, order["id"])

    async def evidence(self, session: Session, object_name: str, order_id: str) -> dict[str, Any]:
        """The fields of Stripe's dispute evidence object this trail can fill, for an administrator."""
        payments = self.flow.order_payments(object_name)
        if not may_refund(session, payments):
            raise Forbidden("dispute evidence is for administrators")
        order, entries = await self.trail(session, object_name, order_id)
        quote = next((e["data"] for e in entries if e["kind"] == "quote_shown"), {})
        clicked = next((e for e in entries if e["kind"] == "pay_clicked"), None)
        paid = next((e for e in entries if e["kind"] == "stripe_state" and e["data"].get("status") == "succeeded"), None)
        owner = order.get(payments.store.obj.owner_property)
        customer = await self.flow.customers.get_by_query({"userId": uuid.UUID(owner)}) if owner else None
        lines = [f"{e['seq']} {e['at']} {e['kind']} {json.dumps(e['data'], sort_keys=True)} prev={e['prevHash'][:16]} "
                 f"hash={e['hash'][:16]}" for e in entries]
        who = (clicked or {}).get("data", {})
        return {
            "customer_name": who.get("name"), "customer_email_address": who.get("email"),
            "customer_purchase_ip": clicked["data"].get("ip") if clicked else None,
            "product_description": quote.get("description"),
            "service_date": (paid or {}).get("at", "")[:10] or None,
            "uncategorized_text": "orderpay audit trail (SHA-256 chain per order; `orderpay audit verify` checks it)\n"
                                  + "\n".join(lines),
            "orderpay": {"orderType": payments.name, "orderId": order["id"], "stripeCustomer":
                         (customer or {}).get("customerId"), "entries": len(entries),
                         "lastHash": entries[-1]["hash"] if entries else None},
        }
