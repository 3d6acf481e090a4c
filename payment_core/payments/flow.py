"""What every part of the payment flow shares: the app's order objects with their payment tables
(`OrderPayments`), the customers and saved cards, the gateway, the outbox, the audit trail — and
the two shapes the flow answers in (`PaymentOutcome`, and the seeds' `paymentResult`).

Built once per app by `build_flow`; the concern modules (cards, checkout, attempts, transitions,
refresh, webhooks, records API, after sale) each take it instead of one another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, Table

from payment_core.audit import AuditTrail
from payment_core.contract import payment_result
from payment_core.db import Database
from payment_core.errors import NotFound
from payment_core.events import Topics, outbox_table
from payment_core.money import json_amount
from payment_core.objects import ObjectStore
from payment_core.payments.gateway import StripeGateway
from payment_core.payments.records import SystemStore
from payment_core.payments.tables import (
    payment_customer_table,
    payment_method_table,
    payment_object_name,
    payment_table,
)
from payment_core.spec import LoadedApp, OrderScripts

# Payment states in which Stripe may still move money: the order's payment-bound fields are frozen.
IN_FLIGHT_STATUSES = ("requires_action", "processing", "requires_capture")


@dataclass(frozen=True)
class PaymentOutcome:
    order: dict[str, Any]
    payment_result: dict[str, Any] | None


@dataclass(frozen=True)
class OrderPayments:
    """Everything the flow needs about one order object."""

    store: ObjectStore
    scripts: OrderScripts
    table: Table  # sys_{object}Payment
    records: SystemStore

    @property
    def name(self) -> str:
        return self.store.obj.name

    @property
    def service_name(self) -> str:
        return self.store.service.name


@dataclass(frozen=True)
class Flow:
    db: Database
    app: LoadedApp
    gateway: StripeGateway
    topics: Topics
    outbox: Table
    customers: SystemStore  # sys_paymentCustomer: one Stripe customer per user
    methods: SystemStore  # sys_paymentMethod: the saved cards
    orders: dict[str, OrderPayments]  # by order object name
    audit: AuditTrail

    def order_payments(self, object_name: str) -> OrderPayments:
        for name, payments in self.orders.items():
            if name.lower() == object_name.lower():
                return payments
        raise NotFound(f"`{object_name}` is not an order object of this app")

    def result(self, record: dict[str, Any] | None, intent: dict[str, Any] | None,
               user_params: dict[str, Any] | None = None, *, with_secret: bool = True) -> dict[str, Any] | None:
        """The seeds' paymentResult (`contract.payment_result`), its amount in the currency's major units."""
        if record is None:
            return None
        currency = (record.get("currency") or (intent or {}).get("currency") or "").upper()
        return payment_result(record, intent, publishable_key=self.gateway.publishable_key,
                              amount=json_amount(record.get("amount"), currency), currency=currency or None,
                              user_params=user_params, with_secret=with_secret)


def build_flow(*, db: Database, app: LoadedApp, stores: dict[str, ObjectStore], metadata: MetaData,
               gateway: StripeGateway) -> Flow:
    topics = Topics(app.codename)
    outbox = outbox_table(metadata)
    orders = app.spec.order_objects()
    # Payment customers and methods are one set for the whole app, named after its first order service.
    home = orders[0][0].name if orders else app.spec.services[0].name
    customers = SystemStore(db, payment_customer_table(metadata), outbox,
                            topics.dbevent(home, "sys_paymentCustomer", "").rstrip("-"))
    methods = SystemStore(db, payment_method_table(metadata), outbox,
                          topics.dbevent(home, "sys_paymentMethod", "").rstrip("-"))
    audit = AuditTrail(db, metadata)
    by_name: dict[str, OrderPayments] = {}
    for service, obj in orders:
        table = payment_table(metadata, obj)
        topic = topics.dbevent(service.name, payment_object_name(obj), "").rstrip("-")
        by_name[obj.name] = OrderPayments(stores[obj.name], app.order_scripts[obj.name], table,
                                          SystemStore(db, table, outbox, topic))
    return Flow(db=db, app=app, gateway=gateway, topics=topics, outbox=outbox, customers=customers, methods=methods,
                orders=by_name, audit=audit)
