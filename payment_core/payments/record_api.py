"""Seed 004's record APIs: the payment records and payment customers as clients read them.

Owners see their own, superAdmin every one. A client may create a payment record for its order
and set its return page; the payment's state is written by the flow alone, and a record of a
payment in progress, or of a paid order (the evidence of money taken), is never deleted.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from payment_core.errors import BadInput, Conflict, Forbidden, NotFound
from payment_core.identity import Session
from payment_core.objects import parse_uuid
from payment_core.payments.flow import IN_FLIGHT_STATUSES, Flow


class PaymentRecords:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    async def payment_record(self, session: Session, object_name: str, *, by: str, value: str) -> dict[str, Any]:
        payments = self.flow.order_payments(object_name)
        query: dict[str, Any] = {by: parse_uuid(value, field=by) if by in ("id", "orderId") else value}
        if not session.is_super_admin:
            query["ownerId"] = uuid.UUID(session.user_id)
        record = await payments.records.get_by_query(query)
        if record is None:
            raise NotFound()
        return record

    async def list_payment_records(self, session: Session, object_name: str, *, limit: int, offset: int) -> list[dict[str, Any]]:
        payments = self.flow.order_payments(object_name)
        query = {} if session.is_super_admin else {"ownerId": uuid.UUID(session.user_id)}
        return await payments.records.list_by_query(query, limit=limit, offset=offset)

    async def create_payment_record(self, session: Session, object_name: str, data: Any) -> dict[str, Any]:
        """A payment record created by a client: only the order and the return page are theirs to set;
        the payment's state is written by the flow alone."""
        payments = self.flow.order_payments(object_name)
        fields = _client_record_fields(data, allowed=("orderId", "redirectUrl"), required=("orderId",))
        order = await payments.store.get(session, fields["orderId"])
        user = uuid.UUID(session.user_id)
        try:
            return await payments.records.create({
                "orderId": uuid.UUID(order["id"]), "ownerId": user, "_owner": user, "redirectUrl": fields.get("redirectUrl"),
                "paymentStatus": "requires_payment_method", "statusLiteral": "started", "stage": 0, "attempt": 0,
                "attemptState": "settled"})
        except IntegrityError:
            raise Conflict("orderId: this order already has a payment record", field="orderId") from None

    async def update_payment_record(self, session: Session, object_name: str, record_id: str, data: Any) -> dict[str, Any]:
        record = await self.payment_record(session, object_name, by="id", value=record_id)
        fields = _client_record_fields(data, allowed=("redirectUrl",), required=())
        updated = await self.flow.order_payments(object_name).records.update_by_id(record["id"], fields)
        return updated or record

    async def delete_payment_record(self, session: Session, object_name: str, record_id: str) -> dict[str, Any]:
        record = await self.payment_record(session, object_name, by="id", value=record_id)
        if record["attemptState"] == "calling" or record["paymentStatus"] in IN_FLIGHT_STATUSES:
            raise Conflict("a payment in progress cannot be deleted")
        if record["statusLiteral"] == "success":  # the evidence of money taken: refunds are made, records stay
            raise Conflict("the payment record of a paid order cannot be deleted")
        deleted = await self.flow.order_payments(object_name).records.delete_by_id(record["id"])
        return deleted or record

    async def payment_customer(self, session: Session, user_id: str) -> dict[str, Any]:
        if user_id != session.user_id and not session.is_super_admin:
            raise NotFound()
        record = await self.flow.customers.get_by_query({"userId": parse_uuid(user_id, field="userId")})
        if record is None:
            raise NotFound()
        return record

    async def list_payment_customers(self, session: Session, *, limit: int, offset: int) -> list[dict[str, Any]]:
        if not session.is_super_admin:
            raise Forbidden("listing payment customers is for administrators")
        return await self.flow.customers.list_by_query({}, limit=limit, offset=offset)


def _client_record_fields(data: Any, *, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadInput("the request body must be a JSON object")
    for name in data:
        if name not in allowed:
            raise BadInput(f"{name}: is set by the payment flow, not by clients", field=name)
    for name in required:
        if not isinstance(data.get(name), str):
            raise BadInput(f"{name}: is required", field=name)
    redirect = data.get("redirectUrl")
    if redirect is not None and (not isinstance(redirect, str) or not redirect.startswith(("http://", "https://"))):
        raise BadInput("redirectUrl: must be an http(s) URL", field="redirectUrl")
    return dict(data)
