"""Checkout: what paying an order would charge, and the quote the buyer is shown and pays.

The spec's scripts give an order's amount, currency and description (`summary_of`); the quote
binds a payment to them (`CheckoutSummary.version`): start payment with a quote that is not the
order's current one is a 409 carrying the current quote. While a payment is in flight, and once
paid, the order fields those scripts read are frozen (`freeze_terms`).
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from payment_core.errors import BadInput, Conflict, StaleQuote
from payment_core.identity import Session
from payment_core.money import json_number, normalize_currency, to_major_units, to_minor_units
from payment_core.mscript import MScriptError
from payment_core.payments.flow import IN_FLIGHT_STATUSES, Flow, OrderPayments
from payment_core.spec import PAYMENT_CONFIRMATION, OrderScripts


@dataclass(frozen=True)
class CheckoutSummary:
    object_name: str
    service_name: str
    order: dict[str, Any]
    order_id: str  # the spec's `orderId` script: the order's id in Stripe (the intent's metadata)
    amount: Decimal  # major units
    currency: str  # upper-case ISO code
    description: str
    amount_minor: int
    display_summary: str | None = None  # the spec's displaySummary: what the buyer reads (not sent to Stripe)

    @property
    def version(self) -> str:
        """What a quote is bound to: a digest of the order and the terms Stripe would be asked to charge."""
        terms = f"{self.order['id']}|{self.amount_minor}|{self.currency}|{self.description}"
        return "q1-" + hashlib.sha256(terms.encode()).hexdigest()[:24]

    @property
    def quote(self) -> dict[str, Any]:
        """The quote a payment card shows and sends back with start payment (`paymentUserParams.quote`)."""
        return {"amount": json_number(self.amount), "currency": self.currency, "version": self.version}

    def same_terms(self, other: CheckoutSummary) -> bool:
        return (self.amount_minor, self.currency, self.description) == (other.amount_minor, other.currency, other.description)


class Checkout:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    async def checkout_summary(self, session: Session, object_name: str, order_id: str) -> CheckoutSummary:
        """What paying this order would charge; refuses orders that cannot be paid. Charges nothing."""
        payments = self.flow.order_payments(object_name)
        order = await payments.store.get(session, order_id)
        summary = summary_of(payments, order)
        if order.get(PAYMENT_CONFIRMATION) == "paid":
            raise Conflict("this order is already paid")
        record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])})
        if record and record["paymentStatus"] in ("processing", "requires_capture"):
            raise Conflict("a payment for this order is already processing")
        return summary


def summary_of(payments: OrderPayments, order: dict[str, Any]) -> CheckoutSummary:
    """The spec's amount, currency and description of an order, as Stripe would be asked to charge them."""
    context = {payments.name: order}
    scripts, config = payments.scripts, payments.store.obj.order
    currency = normalize_currency(scripts.value_of("currency", context), field=scripts.currency_field)
    amount_minor = to_minor_units(scripts.value_of("amount", context), currency, config.amountUnit,
                                  field=scripts.amount_field)
    description = scripts.description.evaluate(context)
    return CheckoutSummary(
        object_name=payments.name, service_name=payments.service_name, order=order,
        order_id=str(scripts.order_id.evaluate(context)), amount=to_major_units(amount_minor, currency), currency=currency,
        description=description if isinstance(description, str) else str(description), amount_minor=amount_minor,
        display_summary=_display_summary(scripts, context),
    )


def freeze_terms(payments: OrderPayments) -> None:
    """Make the order's store refuse changes that would unbind a payment from its order (`order_guard`)."""
    scripts, obj = payments.scripts, payments.store.obj
    payments.store.frozen_fields = frozenset(
        field for script in (scripts.amount, scripts.currency, scripts.description)
        for object_name, field in script.references if object_name == obj.name)
    payments.store.payment_guard = order_guard(payments)


def order_guard(payments: OrderPayments) -> Any:
    async def guard(conn: AsyncConnection, order: dict[str, Any], change: str, session: Session) -> None:
        """Refuse what would unbind a payment from its order: changing the fields its amount, currency
        and description are made of while a payment is in flight or once paid; deleting an order
        while a payment is in flight, or a paid one unless superAdmin."""
        table = payments.table
        record = (await conn.execute(select(table).where(table.c.orderId == uuid.UUID(order["id"]))
                                     .limit(1))).first()
        paid = order.get(PAYMENT_CONFIRMATION) == "paid" or (record is not None and record.statusLiteral == "success")
        in_flight = record is not None and (record.attemptState == "calling" or record.paymentStatus in IN_FLIGHT_STATUSES)
        fields = ", ".join(sorted(payments.store.frozen_fields))
        if change == "update" and paid:
            raise Conflict(f"this {payments.name} is paid: {fields} can no longer change")
        if change == "update" and in_flight:
            raise Conflict(f"a payment for this {payments.name} is in progress: {fields} cannot change until it ends")
        if change == "delete" and in_flight:
            raise Conflict(f"a payment for this {payments.name} is in progress: it cannot be deleted now")
        if change == "delete" and paid and not session.is_super_admin:
            raise Conflict(f"this {payments.name} is paid: it cannot be deleted")

    return guard


def parse_quote(value: Any) -> dict[str, Any]:
    """`paymentUserParams.quote`: the `{amount, currency, version}` the payment card showed."""
    field = "paymentUserParams.quote"
    if not isinstance(value, dict) or set(value) - {"amount", "currency", "version"}:
        raise BadInput(f"{field}: must be the payment card's {{amount, currency, version}}", field=field)
    amount, currency, version = value.get("amount"), value.get("currency"), value.get("version")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not Decimal(str(amount)).is_finite():
        raise BadInput(f"{field}.amount: must be a number", field=f"{field}.amount")
    if not isinstance(currency, str) or not 0 < len(currency) <= 8:
        raise BadInput(f"{field}.currency: must be a currency code", field=f"{field}.currency")
    if not isinstance(version, str) or not 0 < len(version) <= 100:
        raise BadInput(f"{field}.version: must be the quote's version", field=f"{field}.version")
    return {"amount": amount, "currency": currency.upper(), "version": version}


def quote_matches(quote: dict[str, Any], summary: CheckoutSummary) -> bool:
    return (Decimal(str(quote["amount"])), quote["currency"], quote["version"]) == (
        summary.amount, summary.currency, summary.version)


def stale_quote(current: CheckoutSummary) -> StaleQuote:
    return StaleQuote(
        f"the {current.object_name} changed since its payment was shown: it now costs {current.amount} "
        f"{current.currency}; nothing was charged — show the new amount and pay again",
        details={"currentQuote": current.quote})


def _display_summary(scripts: OrderScripts, context: dict[str, Any]) -> str | None:
    """The spec's displaySummary for this order; None (the UI shows the description) when the spec
    has none or the order lacks what it reads: a summary is for reading, never a reason to refuse."""
    if scripts.display_summary is None:
        return None
    try:
        summary = scripts.display_summary.evaluate(context)
    except MScriptError:
        return None
    return summary if isinstance(summary, str) and summary.strip() else None
