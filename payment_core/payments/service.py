"""The StripeOrder payment flow of seeds 002/004, as its callers see it: one `PaymentService`.

Framework-free: the REST API and the MCP server call these coroutines with the caller's
Session. Money only moves in `start_payment`, which the REST API exposes to the buyer's own UI
and the MCP server never calls.

This facade only composes and delegates; each concern has its module (docs/payments.md):

    flow.py         what they all share: order objects, stores, gateway, outbox; paymentResult
    cards.py        saved cards and the buyer's Stripe customer
    checkout.py     what an order would charge, its quote, the frozen order fields
    attempts.py     start payment: claim, call Stripe, resolve a lost answer, cancel an abandoned one
    transitions.py  a Stripe intent's state applied to the order, with its events and audit entries
    refresh.py      the buyer's refresh and the reconciler
    webhooks.py     verify, store and process Stripe's deliveries
    record_api.py   seed 004's payment record and customer APIs
    aftersale.py    refunds, disputes, cancellation, the audit trail
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, Table

from payment_core.audit import AuditTrail
from payment_core.db import Database
from payment_core.events import Topics
from payment_core.identity import Session
from payment_core.objects import ObjectStore
from payment_core.payments.aftersale import AfterSale
from payment_core.payments.attempts import Attempts, Click
from payment_core.payments.cards import SavedCards
from payment_core.payments.checkout import Checkout, CheckoutSummary, freeze_terms, summary_of
from payment_core.payments.flow import OrderPayments, PaymentOutcome, build_flow
from payment_core.payments.gateway import StripeGateway
from payment_core.payments.record_api import PaymentRecords
from payment_core.payments.records import SystemStore
from payment_core.payments.refresh import Refresh
from payment_core.payments.throttle import Throttle
from payment_core.payments.transitions import Transitions
from payment_core.payments.webhooks import WebhookOutcome, Webhooks
from payment_core.spec import LoadedApp

# The facade's types, for its callers.
__all__ = ["CheckoutSummary", "Click", "OrderPayments", "PaymentOutcome", "PaymentService", "WebhookOutcome"]


class PaymentService:
    def __init__(self, *, db: Database, app: LoadedApp, stores: dict[str, ObjectStore], metadata: MetaData,
                 gateway: StripeGateway, webhook_secrets: list[str], webhook_tolerance: int, throttle: Throttle,
                 stale_attempt_seconds: float = 60.0) -> None:
        self.flow = flow = build_flow(db=db, app=app, stores=stores, metadata=metadata, gateway=gateway)
        self.db, self.app, self.gateway, self.throttle = db, app, gateway, throttle
        self.topics: Topics = flow.topics
        self.outbox: Table = flow.outbox
        self.customers: SystemStore = flow.customers
        self.methods: SystemStore = flow.methods
        self.orders: dict[str, OrderPayments] = flow.orders
        self.audit: AuditTrail = flow.audit
        for payments in flow.orders.values():
            freeze_terms(payments)
        self.cards = SavedCards(flow, throttle)
        self.checkout = Checkout(flow)
        self.transitions = Transitions(flow)
        self.after_sale = AfterSale(flow, self.transitions, metadata)  # refunds, disputes, cancel, the audit trail
        self.attempts = Attempts(flow, self.cards, self.transitions, throttle,
                                 stale_attempt_seconds=stale_attempt_seconds)
        self.refresh = Refresh(flow, self.attempts, self.transitions, self.after_sale)
        self.webhooks = Webhooks(flow, self.transitions, self.after_sale, metadata,
                                 secrets=webhook_secrets, tolerance=webhook_tolerance)
        self.deliveries: Table = self.webhooks.deliveries
        self.records = PaymentRecords(flow)

    @property
    def stale_attempt_seconds(self) -> float:
        return self.attempts.stale_attempt_seconds

    def topic_names(self) -> list[str]:
        """Every topic this app's payment flow writes to."""
        names = [self.topics.payment(p.service_name, p.name, event)
                 for p in self.orders.values() for event in ("started", "refreshed", "calledback", "autorefunded",
                                                                  *self.after_sale.topic_events())]
        stores = [self.customers, self.methods, *(p.records for p in self.orders.values())]
        names += [f"{store.topic}-{event}" for store in stores for event in ("created", "updated", "deleted")]
        return names

    def order_payments(self, object_name: str) -> OrderPayments:
        return self.flow.order_payments(object_name)

    # -- saved cards (cards.py) ------------------------------------------------

    async def list_payment_methods(self, session: Session) -> list[dict[str, Any]]:
        return await self.cards.list_payment_methods(session)

    async def add_payment_method(self, session: Session, payment_method_id: Any) -> dict[str, Any]:
        return await self.cards.add_payment_method(session, payment_method_id)

    async def delete_payment_method(self, session: Session, payment_method_id: Any) -> dict[str, Any]:
        return await self.cards.delete_payment_method(session, payment_method_id)

    # -- checkout and start payment (checkout.py, attempts.py) ------------------

    async def checkout_summary(self, session: Session, object_name: str, order_id: str) -> CheckoutSummary:
        return await self.checkout.checkout_summary(session, object_name, order_id)

    def summary_of(self, payments: OrderPayments, order: dict[str, Any]) -> CheckoutSummary:
        return summary_of(payments, order)

    async def start_payment(self, session: Session, object_name: str, order_id: str, params: Any, *,
                            one_off_card: bool = False, click: Click | None = None) -> PaymentOutcome:
        return await self.attempts.start_payment(session, object_name, order_id, params, one_off_card=one_off_card,
                                                 click=click)

    # -- refresh and recovery (refresh.py) ---------------------------------------

    async def payment_state(self, session: Session, object_name: str, order_id: str) -> PaymentOutcome:
        return await self.refresh.payment_state(session, object_name, order_id)

    async def refresh_payment(self, session: Session, object_name: str, order_id: str) -> PaymentOutcome:
        return await self.refresh.refresh_payment(session, object_name, order_id)

    async def reconcile(self, *, older_than: float, limit: int = 50) -> int:
        return await self.refresh.reconcile(older_than=older_than, limit=limit)

    async def run_reconciler(self, *, older_than: float, interval: float) -> None:
        await self.refresh.run_reconciler(older_than=older_than, interval=interval)

    # -- webhooks (webhooks.py) --------------------------------------------------

    async def handle_webhook(self, payload: bytes, signature: str | None, *,
                             expected: tuple[str, str] | None = None) -> WebhookOutcome:
        return await self.webhooks.handle_webhook(payload, signature, expected=expected)

    # -- payment records and customers (record_api.py) ----------------------------

    async def payment_record(self, session: Session, object_name: str, *, by: str, value: str) -> dict[str, Any]:
        return await self.records.payment_record(session, object_name, by=by, value=value)

    async def list_payment_records(self, session: Session, object_name: str, *, limit: int,
                                   offset: int) -> list[dict[str, Any]]:
        return await self.records.list_payment_records(session, object_name, limit=limit, offset=offset)

    async def create_payment_record(self, session: Session, object_name: str, data: Any) -> dict[str, Any]:
        return await self.records.create_payment_record(session, object_name, data)

    async def update_payment_record(self, session: Session, object_name: str, record_id: str,
                                    data: Any) -> dict[str, Any]:
        return await self.records.update_payment_record(session, object_name, record_id, data)

    async def delete_payment_record(self, session: Session, object_name: str, record_id: str) -> dict[str, Any]:
        return await self.records.delete_payment_record(session, object_name, record_id)

    async def payment_customer(self, session: Session, user_id: str) -> dict[str, Any]:
        return await self.records.payment_customer(session, user_id)

    async def list_payment_customers(self, session: Session, *, limit: int, offset: int) -> list[dict[str, Any]]:
        return await self.records.list_payment_customers(session, limit=limit, offset=offset)
