"""Stripe's webhooks: verified, stored, then processed (seed 002's callback).

A delivery is verified against the signing secrets (several during a rotation), stored by event
id before it is processed (a second delivery of a processed event is a `duplicate`), and applied
in one transaction with its events: a failure half way applies nothing, the delivery is kept as
`failed`, and Stripe's retry processes it again. Payment-intent events go to the transition;
charge, refund and dispute events to the after-sale part.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import Connection, MetaData, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from payment_core.clock import utcnow
from payment_core.errors import OrderPayError, WebhookNotReady, WebhookRejected
from payment_core.payments.aftersale import AfterSale
from payment_core.payments.flow import Flow
from payment_core.payments.tables import webhook_delivery_table
from payment_core.payments.transitions import Transitions, without_client_secret

log = logging.getLogger("orderpay.payments")


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    status: str  # processed | ignored | duplicate


class Webhooks:
    def __init__(self, flow: Flow, transitions: Transitions, after_sale: AfterSale, metadata: MetaData, *,
                 secrets: list[str], tolerance: int) -> None:
        self.flow, self.transitions, self.after_sale = flow, transitions, after_sale
        self.secrets, self.tolerance = secrets, tolerance
        self.deliveries = table = webhook_delivery_table(metadata)
        insert = postgresql.insert if flow.db.engine.dialect.name == "postgresql" else sqlite.insert
        # One statement stores a delivery or counts a repeated one, and says which (deliveries == 1: new).
        self._store_statement = insert(table).on_conflict_do_update(
            index_elements=[table.c.eventId], set_={"deliveries": table.c.deliveries + 1},
        ).returning(table.c.status, table.c.deliveries)
        self._finish_statement = update(table).where(table.c.eventId == bindparam("w_event"))

    async def handle_webhook(self, payload: bytes, signature: str | None, *,
                             expected: tuple[str, str] | None = None) -> WebhookOutcome:
        """Verify, store, then apply a Stripe webhook delivery.

        Stored before processing; applied in one transaction with its events, so a failure half
        way applies nothing and the delivery (kept as `failed`) is processed again on Stripe's retry.
        An event with nothing of this app's to apply (another system's payment on a shared Stripe
        account, a type orderpay does not act on: told from the event alone) is stored already
        marked `ignored`, in one transaction.
        """
        event = self._verify(payload, signature)
        event_id, event_type = event["id"], event["type"]
        # Stored as events carry it: without the intent's client secret and next-action URLs.
        stored = json.dumps(without_client_secret(event))
        if not self._may_apply(event):
            earlier = await self.flow.db.write(lambda conn: self._store(conn, event_id, event_type, stored, "ignored"))
            return WebhookOutcome(event_id, "duplicate" if earlier in ("processed", "ignored") else "ignored")
        earlier = await self.flow.db.write(lambda conn: self._store(conn, event_id, event_type, stored, "received"))
        if earlier in ("processed", "ignored"):
            return WebhookOutcome(event_id, "duplicate")
        try:
            outcome = await self._process(event, expected)
        except Exception as exc:
            await self._finish_delivery(event_id, "failed", error=f"{type(exc).__name__}: {exc}")
            if isinstance(exc, OrderPayError):
                raise
            log.exception("webhook processing failed", extra={"eventId": event_id})
            raise
        await self._finish_delivery(event_id, outcome)
        return WebhookOutcome(event_id, outcome)

    def _may_apply(self, event: dict[str, Any]) -> bool:
        """Whether anything of this app's can be applied from `event` (False: `ignored` for sure)."""
        if not event["type"].startswith("payment_intent."):
            return self.after_sale.handles(event["type"])
        intent = (event.get("data") or {}).get("object") or {}
        metadata = intent.get("metadata") or {}
        return metadata.get("orderpayApp") == self.flow.app.codename and metadata.get("orderpayObject") in self.flow.orders

    def _verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        if not self.secrets:
            raise WebhookRejected("webhooks are refused: no signing secret is configured")
        if not signature:
            raise WebhookRejected("missing Stripe-Signature header")
        timestamps = [part[2:] for part in signature.split(",") if part.startswith("t=")]
        if not timestamps or not timestamps[0].isdigit():
            raise WebhookRejected("malformed Stripe-Signature header")
        if int(timestamps[0]) > time.time() + self.tolerance:
            raise WebhookRejected("the signature's timestamp is in the future")
        text = payload.decode("utf-8", errors="replace")
        for secret in self.secrets:  # several during a secret rotation
            try:
                stripe.WebhookSignature.verify_header(text, signature, secret, self.tolerance)
                break
            except stripe.SignatureVerificationError:
                continue
        else:
            raise WebhookRejected("the signature does not match (wrong secret, altered body or too old)")
        try:
            event = json.loads(payload)
        except ValueError:
            raise WebhookRejected("the body is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
            raise WebhookRejected("the body is not a Stripe event")
        return event

    def _store(self, conn: Connection, event_id: str, event_type: str, payload: str, status: str) -> str | None:
        """Store a delivery as `status` (`received`, or `ignored` when nothing is to be applied) or
        count a repeated one; the status an earlier delivery left (None for the first). A repeat
        of an event whose processing failed, now with nothing to apply, is marked `ignored`."""
        now = utcnow()
        row = conn.execute(self._store_statement, {
            "id": uuid.uuid4(), "eventId": event_id, "type": event_type, "payload": payload, "status": status,
            "deliveries": 1, "receivedAt": now, "processedAt": None if status == "received" else now}).one()
        if row.deliveries == 1:
            return None
        if status == "ignored" and row.status not in ("processed", "ignored"):
            self._finish(conn, event_id, "ignored")
        return row.status

    def _finish(self, conn: Connection, event_id: str, status: str, error: str | None = None) -> None:
        conn.execute(self._finish_statement, {"w_event": event_id, "status": status, "lastError": error,
                                              "processedAt": utcnow()})

    async def _finish_delivery(self, event_id: str, status: str, *, error: str | None = None) -> None:
        await self.flow.db.write(lambda conn: self._finish(conn, event_id, status, error))

    async def _process(self, event: dict[str, Any], expected: tuple[str, str] | None) -> str:
        if not event["type"].startswith("payment_intent."):
            return await self.after_sale.handle_event(event)
        intent = (event.get("data") or {}).get("object") or {}
        metadata = intent.get("metadata") or {}
        if metadata.get("orderpayApp") != self.flow.app.codename or metadata.get("orderpayObject") not in self.flow.orders:
            return "ignored"  # not one of ours: Stripe accounts are shared by many systems
        payments = self.flow.orders[metadata["orderpayObject"]]
        order_id = metadata.get("orderId", "")
        if expected is not None and (expected[0].lower() != payments.name.lower() or expected[1] != order_id):
            raise WebhookRejected("this event belongs to another order")
        try:
            order_uuid = uuid.UUID(order_id)
        except ValueError:
            return "ignored"
        record = await payments.records.get_by_query({"orderId": order_uuid})
        if record is None:
            raise WebhookNotReady("the payment this event reports is not recorded yet; retry later")
        attempt = metadata.get("orderpayAttempt")
        await self.transitions.apply(payments, intent, "calledback", webhook=event,
                                     attempt=int(attempt) if attempt and attempt.isdigit() else None)
        return "processed"
