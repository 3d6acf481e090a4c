"""The system data objects of the StripeOrder pattern (seed 004): the payment record of
each order object, the payment customer, the payment method; and the stored webhook
deliveries."""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from payment_core.schema import JSON_TYPE
from payment_core.spec import DataObjectSpec


def _system_columns() -> list[Column]:
    return [
        Column("_owner", Uuid(as_uuid=True), nullable=True),
        Column("isActive", Boolean(), nullable=False, default=True),
        Column("recordVersion", Integer(), nullable=False, default=1),
        Column("createdAt", DateTime(timezone=True), nullable=False),
        Column("updatedAt", DateTime(timezone=True), nullable=False),
    ]


def payment_object_name(obj: DataObjectSpec) -> str:
    """`sys_reservationPayment` for `reservation`."""
    return f"sys_{obj.name}Payment"


def payment_table(metadata: MetaData, obj: DataObjectSpec) -> Table:
    """One payment record (the seeds' "payment ticket") per order; each payment attempt updates it."""
    table = Table(
        payment_object_name(obj).lower(),
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("ownerId", Uuid(as_uuid=True), nullable=True),
        Column("orderId", Uuid(as_uuid=True), nullable=False),
        Column("paymentId", String(255), nullable=True),
        Column("paymentStatus", String(64), nullable=False),
        Column("statusLiteral", String(32), nullable=False),
        Column("redirectUrl", Text(), nullable=True),
        # orderpay's additions: what makes a payment attempt exactly-once.
        Column("attempt", Integer(), nullable=False, default=0),
        Column("idempotencyKey", String(255), nullable=True),
        Column("attemptState", String(16), nullable=False, default="settled"),  # calling | settled
        # How far the current intent has come (see transitions.stage); transitions only move it forward.
        Column("stage", Integer(), nullable=False, default=0),
        Column("paymentMethodId", String(255), nullable=True),
        Column("amount", BigInteger(), nullable=True),  # Stripe minor units
        Column("currency", String(3), nullable=True),
        Column("lastError", JSON_TYPE, nullable=True),
        # After the sale (payment_core/payments/refunds.py, disputes.py, cancel.py): Stripe's truth, synced.
        Column("amountRefunded", BigInteger(), nullable=True),  # minor units, like `amount`
        Column("refunds", JSON_TYPE, nullable=True),  # [{refundId, amount, currency, status, reason, created}]
        Column("dispute", JSON_TYPE, nullable=True),  # {disputeId, status, amount, currency, reason, open}
        Column("canceledAt", DateTime(timezone=True), nullable=True),  # the buyer cancelled the open payment
        *_system_columns(),
        UniqueConstraint("orderId", name=f"uq_{payment_object_name(obj).lower()}_order"),
    )
    Index(f"ix_{table.name}_payment", table.c.paymentId)
    Index(f"ix_{table.name}_owner", table.c.ownerId, table.c.createdAt)
    return table


def payment_customer_table(metadata: MetaData) -> Table:
    return Table(
        "sys_paymentcustomer",
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("userId", Uuid(as_uuid=True), nullable=False, unique=True),
        Column("customerId", String(255), nullable=False, unique=True),
        Column("platform", String(32), nullable=False, default="stripe"),
        *_system_columns(),
    )


def payment_method_table(metadata: MetaData) -> Table:
    table = Table(
        "sys_paymentmethod",
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("paymentMethodId", String(255), nullable=False, unique=True),
        Column("userId", Uuid(as_uuid=True), nullable=False),
        Column("customerId", String(255), nullable=False),
        Column("cardHolderName", Text(), nullable=True),
        Column("cardHolderZip", String(32), nullable=True),
        Column("platform", String(32), nullable=False, default="stripe"),
        Column("cardInfo", JSON_TYPE, nullable=False),
        *_system_columns(),
    )
    Index("ix_sys_paymentmethod_user", table.c.userId, table.c.isActive)
    return table


def webhook_delivery_table(metadata: MetaData) -> Table:
    """Every signed webhook delivery, stored before it is processed."""
    return Table(
        "sys_webhookdelivery",
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("eventId", String(255), nullable=False, unique=True),
        Column("type", String(128), nullable=False),
        Column("payload", Text(), nullable=False),
        Column("status", String(16), nullable=False),  # received | processed | ignored | failed
        Column("deliveries", Integer(), nullable=False, default=1),
        Column("lastError", Text(), nullable=True),
        Column("receivedAt", DateTime(timezone=True), nullable=False),
        Column("processedAt", DateTime(timezone=True), nullable=True),
    )
