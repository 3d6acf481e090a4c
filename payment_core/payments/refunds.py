"""Refunds: made by people (superAdmin or the roles the spec names), never by a model; asked for
by buyers (a refund request moves no money); and synced from Stripe, whoever made them.

Stripe is the truth: after a refund through the API, a `charge.refunded`/`refund.*` webhook or
a refresh, the order's refunds are read from Stripe and written onto its payment record
(`amountRefunded`, `refunds`). Each refund newly seen is an audit entry and a
`…-{object}payment-refunded` event; a fully refunded order gets `paymentResultRefunded`'s
status when the spec maps one. `_paymentConfirmation` stays `paid`: the seeds' values are kept.
"""
from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text, Uuid, select, update

from payment_core.clock import iso, utcnow
from payment_core.errors import BadInput, Conflict, Forbidden, NotFound
from payment_core.events import write_event
from payment_core.identity import Session
from payment_core.money import json_amount, to_minor_units
from payment_core.objects import parse_uuid
from payment_core.payments.flow import Flow, OrderPayments
from payment_core.payments.transitions import _mapped_status

STRIPE_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
COUNTED = ("succeeded", "pending", "requires_action")  # refunds that took, or will take, money back
MAX_REASON = 500


def refund_request_table(metadata: MetaData) -> Table:
    """A buyer's request for a refund: recorded for the merchant, moving no money."""
    table = Table(
        "sys_refundrequest",
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("objectName", String(100), nullable=False),
        Column("orderId", Uuid(as_uuid=True), nullable=False),
        Column("ownerId", Uuid(as_uuid=True), nullable=False),
        Column("reason", Text(), nullable=False),
        Column("status", String(16), nullable=False),  # open | refunded
        Column("createdAt", DateTime(timezone=True), nullable=False),
        Column("updatedAt", DateTime(timezone=True), nullable=False),
    )
    Index("ix_sys_refundrequest_status", table.c.status, table.c.createdAt)
    return table


def may_refund(session: Session, payments: OrderPayments) -> bool:
    return session.is_super_admin or bool(set(session.roles) & set(payments.store.obj.order.refundRoles))


def refund_summary(refund: dict[str, Any]) -> dict[str, Any]:
    """What a payment record keeps of one Stripe refund."""
    return {"refundId": refund["id"], "amount": refund.get("amount"), "currency": str(refund.get("currency") or "").upper(),
            "status": refund.get("status"), "reason": refund.get("reason"), "created": refund.get("created"),
            "note": (refund.get("metadata") or {}).get("orderpayNote"),
            "by": (refund.get("metadata") or {}).get("orderpayBy")}


class Refunds:
    def __init__(self, flow: Flow, metadata: MetaData) -> None:
        self.flow = flow
        self.requests = refund_request_table(metadata)

    # -- refunds by people -------------------------------------------------------

    async def refund(self, session: Session, object_name: str, order_id: str, body: dict[str, Any],
                     request_key: str | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Refund all or part of a paid order; returns (order, payment record, the refund).

        The same `request_key` (Idempotency-Key) is the same refund, once at Stripe however often it
        is sent; without one each request is a new refund. Never more than captured minus refunded."""
        payments = self.flow.order_payments(object_name)
        if not may_refund(session, payments):
            raise Forbidden("refunds are made by administrators, not by buyers or assistants")
        unknown = sorted(set(body) - {"amount", "reason", "requestId"})
        if unknown:
            raise BadInput(f"{unknown[0]}: is not a refund parameter", field=unknown[0])
        key = request_key or body.get("requestId")
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 255):
            raise BadInput("Idempotency-Key: must be a string of at most 255 characters", field="requestId")
        reason = body.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise BadInput(f"reason: must be a text of at most {MAX_REASON} characters", field="reason")
        order_uuid = parse_uuid(order_id, field="id")
        record = await payments.records.get_by_query({"orderId": order_uuid})
        if record is None or record["statusLiteral"] != "success" or not record["paymentId"]:
            raise Conflict(f"this {payments.name} has no captured payment to refund")
        intent_id, currency = record["paymentId"], record["currency"]
        digest = hashlib.sha256(f"{session.user_id}|{key}".encode()).hexdigest()[:32] if key else uuid.uuid4().hex
        existing = await self.flow.gateway.list_refunds(intent_id)
        replay = next((r for r in existing if (r.get("metadata") or {}).get("orderpayRequest") == digest), None)
        if replay is None:
            if (record.get("dispute") or {}).get("open"):
                raise Conflict("this payment is disputed: refunds wait until the dispute is closed")
            remaining = int(record["amount"]) - sum(int(r["amount"]) for r in existing if r.get("status") in COUNTED)
            amount = remaining if body.get("amount") is None else to_minor_units(
                body["amount"], currency, payments.store.obj.order.amountUnit, field="amount")
            if remaining <= 0:
                raise Conflict("this payment is already refunded in full")
            if amount > remaining:
                raise Conflict(f"amount: at most {json_amount(remaining, currency)} {currency} "
                               "can still be refunded", field="amount",
                               details={"refundable": json_amount(remaining, currency)})
            stripe_reason = reason if reason in STRIPE_REASONS else "requested_by_customer"
            metadata = {"orderpayApp": self.flow.app.codename, "orderId": str(order_uuid), "orderpayRequest": digest,
                        "orderpayBy": session.user_id, "orderpayNote": (reason or "")[:MAX_REASON]}
            replay = await self.flow.gateway.refund_intent(
                intent_id, amount=amount, reason=stripe_reason, metadata=metadata,
                idempotency_key=f"orderpay-{self.flow.app.codename}-refund-{order_uuid}-{digest}")
        order, record = await self.sync(payments, intent_id, via="api")
        return order, record, refund_summary(replay)

    # -- Stripe's truth ------------------------------------------------------------

    async def sync(self, payments: OrderPayments, intent_id: str, *, via: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Write Stripe's refunds of `intent_id` onto its payment record; returns (order, record)."""
        refunds = sorted((refund_summary(r) for r in await self.flow.gateway.list_refunds(intent_id)),
                         key=lambda r: (r["created"] or 0, r["refundId"]))
        flow = self.flow
        async with flow.db.engine.begin() as conn:
            store = payments.store
            found = await payments.records.get_by_query({"paymentId": intent_id}, conn=conn)
            if found is None:
                raise NotFound("no payment record for this payment")
            # The payment record, then the order: the order in which transitions lock them (no deadlock).
            record = await payments.records.lock_by_id(found["id"], conn=conn) or found
            order_uuid = uuid.UUID(record["orderId"])
            row = (await conn.execute(store.lock_row_by_id, {"row_id": order_uuid})).first()
            order = store.to_api(row) if row else {}
            if refunds == (record.get("refunds") or []):
                return order, record
            before = {r["refundId"]: r for r in record.get("refunds") or []}
            total = sum(int(r["amount"] or 0) for r in refunds if r["status"] in COUNTED)
            record = await payments.records.update_by_id(record["id"], {"refunds": refunds, "amountRefunded": total},
                                                         conn=conn) or record
            for refund in refunds:
                if before.get(refund["refundId"]) != refund:
                    await flow.audit.append(conn, store.lock_row_by_id, payments.name, str(order_uuid), "refunded",
                                               {**refund, "paymentId": intent_id, "via": via})
            fully = total >= int(record["amount"] or 0)
            if fully and row is not None:
                mapped = _mapped_status(store, payments.scripts, "refunded", order) \
                    if "refunded" in payments.scripts.status_for_result else None
                config = store.obj.order
                if mapped is not None and order.get(config.orderStatusProperty) != mapped:
                    now = utcnow()
                    updated = (await conn.execute(store.update_row_by_id, {
                        "row_id": order_uuid, config.orderStatusProperty: mapped,
                        config.orderStatusUpdateDateProperty: now, "updatedAt": now})).one()
                    order = store.to_api(updated)
            if total > 0:
                await conn.execute(update(self.requests).where(
                    self.requests.c.objectName == payments.name, self.requests.c.orderId == order_uuid,
                    self.requests.c.status == "open").values(status="refunded", updatedAt=utcnow()))
            currency = record["currency"]
            await write_event(conn, flow.outbox, flow.topics.payment(payments.service_name, payments.name, "refunded"), {
                payments.name: order, "orderId": str(order_uuid), "paymentId": intent_id, "currency": currency,
                "amount": json_amount(record["amount"], currency), "amountRefunded": json_amount(total, currency),
                "fullyRefunded": fully, "refunds": refunds, "via": via,
            }, key=str(order_uuid))
        return order, record

    # -- buyers ask ----------------------------------------------------------------

    async def request(self, session: Session, object_name: str, order_id: str, reason: str) -> dict[str, Any]:
        """A buyer's refund request on their own paid order: recorded, published and audited. No money moves."""
        payments = self.flow.order_payments(object_name)
        order = await payments.store.get(session, order_id)
        if order.get(payments.store.obj.owner_property) != session.user_id:
            raise NotFound()
        reason = (reason or "").strip()
        if not reason or len(reason) > MAX_REASON:
            raise BadInput(f"reason: say why, in at most {MAX_REASON} characters", field="reason")
        record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])})
        if record is None or record["statusLiteral"] != "success":
            raise Conflict(f"this {payments.name} is not paid: there is nothing to refund")
        now = utcnow()
        values = {"id": uuid.uuid4(), "objectName": payments.name, "orderId": uuid.UUID(order["id"]),
                  "ownerId": uuid.UUID(session.user_id), "reason": reason, "status": "open", "createdAt": now, "updatedAt": now}
        flow = self.flow
        async with flow.db.engine.begin() as conn:
            open_one = (await conn.execute(select(self.requests).where(
                self.requests.c.objectName == payments.name, self.requests.c.orderId == values["orderId"],
                self.requests.c.status == "open"))).first()
            if open_one is not None:
                return _request_api(open_one._mapping)  # asked already: one open request per order
            await conn.execute(self.requests.insert(), values)
            await flow.audit.append(conn, payments.store.lock_row_by_id, payments.name, order["id"], "refund_requested",
                                       {"by": session.user_id, "reason": reason})
            await write_event(conn, flow.outbox,
                              flow.topics.payment(payments.service_name, payments.name, "refundrequested"),
                              {"request": _request_api(values)}, key=order["id"])
        return _request_api(values)

    async def list_requests(self, session: Session, *, status: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        # A refund role names its order objects: it sees those objects' requests, not every object's.
        refundable = [name for name, p in self.flow.orders.items() if may_refund(session, p)]
        if not refundable:
            raise Forbidden("refund requests are for administrators")
        t = self.requests
        statement = select(t).where(t.c.objectName.in_(refundable)).order_by(t.c.createdAt.desc(), t.c.id)
        statement = statement.limit(limit).offset(offset)
        if status:
            statement = statement.where(t.c.status == status)
        async with self.flow.db.engine.connect() as conn:
            return [_request_api(row._mapping) for row in (await conn.execute(statement)).all()]


def _request_api(columns: Any) -> dict[str, Any]:
    return {"id": str(columns["id"]), "orderType": columns["objectName"], "orderId": str(columns["orderId"]),
            "ownerId": str(columns["ownerId"]), "reason": columns["reason"], "status": columns["status"],
            "createdAt": iso(columns["createdAt"])}
