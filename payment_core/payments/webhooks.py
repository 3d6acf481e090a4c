"""Stripe's webhooks: verified, stored, then processed (seed 002's callback).

A delivery is verified against the signing secrets (several during a rotation), stored by event
id before it is processed (a second delivery of a processed event is a `duplicate`), and applied
in one transaction with its events: a failure half way applies nothing, the delivery is kept as
`failed`, and Stripe's retry processes it again. Payment-intent events go to the transition;
charge, refund and dispute events to the after-sale part.

Deliveries arriving together are stored together (`DeliveryLog`): one transaction for all that
came in while the previous one was being written, each answered once it has committed.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import stripe
from sqlalchemy import Connection, MetaData, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from payment_core.clock import utcnow
from payment_core.db import Database
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
        self._log = DeliveryLog(flow.db, self._store)

    async def handle_webhook(self, payload: bytes, signature: str | None, *,
                             expected: tuple[str, str] | None = None) -> WebhookOutcome:
        """Verify, store, then apply a Stripe webhook delivery.

        Stored before processing; applied in one transaction with its events, so a failure half
        way applies nothing and the delivery (kept as `failed`) is processed again on Stripe's retry.
        An event with nothing of this app's to apply (another system's payment on a shared Stripe
        account, a type orderpay does not act on: told from the event alone) is stored already
        marked `ignored`, in one statement (of a transaction it may share with the deliveries
        arriving with it: `DeliveryLog`).
        """
        event = self._verify(payload, signature)
        event_id, event_type = event["id"], event["type"]
        # Stored as events carry it: without the intent's client secret and next-action URLs.
        stored = json.dumps(without_client_secret(event))
        if not self._may_apply(event):
            earlier = await self._log.store(event_id, event_type, stored, "ignored")
            return WebhookOutcome(event_id, "duplicate" if earlier in ("processed", "ignored") else "ignored")
        earlier = await self._log.store(event_id, event_type, stored, "received")
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


Delivery = tuple[str, str, str, str]  # event id, type, payload, status: the arguments of `Webhooks._store`
Store = Callable[[Connection, str, str, str, str], "str | None"]


class DeliveryLog:
    """Stores deliveries in as few transactions as they allow: the deliveries that arrive while one
    transaction is being written go together in the next (up to `BATCH`), each answered once that
    has committed — a delivery is never acknowledged before it is stored. Alone, a delivery is
    written at once, as it would be by itself.

    A transaction costs more than its statement here (the writer's slot, the hop to its thread,
    `BEGIN` and the commit): Stripe sends bursts, and a burst's deliveries share those. Within a
    batch the deliveries are stored one after the other, as they would be one transaction each, so
    a repeat in the same batch is told as a repeat; in event-id order, so that two replicas'
    batches take the unique index's locks in the same order. Should a batch fail, its deliveries
    are stored again one by one (the failed batch committed nothing): one bad delivery fails alone.
    """

    BATCH = 64

    def __init__(self, db: Database, store: Store) -> None:
        self._db, self._store = db, store
        self._waiting: list[tuple[Delivery, asyncio.Future[str | None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def store(self, event_id: str, event_type: str, payload: str, status: str) -> str | None:
        """Store one delivery (see `Webhooks._store`); the status an earlier delivery left."""
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(((event_id, event_type, payload, status), answer))
        if self._writing is None:
            # A task of its own: a caller that goes away (a client hanging up) stops nobody else's write.
            self._writing = asyncio.get_running_loop().create_task(self._write_all())
        return await answer

    async def _write_all(self) -> None:
        batch: list[tuple[Delivery, asyncio.Future[str | None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self.BATCH], self._waiting[self.BATCH:]
                await self._write(batch)
        finally:
            self._writing = None
            # Anyone still waiting here was stopped with this task (at shutdown): outcome unknown to
            # them, as to a client whose connection dropped; Stripe's retry tells.
            for _, answer in batch + self._waiting:
                _settle(answer, error=RuntimeError("the delivery log stopped while storing this delivery"))
            self._waiting = []

    async def _write(self, batch: list[tuple[Delivery, asyncio.Future[str | None]]]) -> None:
        deliveries = sorted(range(len(batch)), key=lambda i: batch[i][0][0])  # stable: repeats keep their order

        def unit(conn: Connection) -> list[str | None]:
            return [self._store(conn, *batch[i][0]) for i in deliveries]

        try:
            results = await self._db.write(unit)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for delivery, answer in batch:
                try:
                    _settle(answer, await self._db.write(partial(self._store_one, delivery)))
                except Exception as alone:
                    _settle(answer, error=alone)
            return
        for i, earlier in zip(deliveries, results):
            _settle(batch[i][1], earlier)

    def _store_one(self, delivery: Delivery, conn: Connection) -> str | None:
        return self._store(conn, *delivery)


def _settle(answer: asyncio.Future[str | None], result: str | None = None, *, error: BaseException | None = None) -> None:
    if answer.done():  # its caller has gone; the delivery is stored all the same
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)
