"""The StripeOrder payment flow of seeds 002/004: saved cards, start, refresh, webhooks.

Framework-free: the REST API and the MCP server call these coroutines with the
caller's Session. Money only moves in `start_payment`, which the REST API exposes
to the buyer's own UI and the MCP server never calls.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe
from sqlalchemy import MetaData, Table, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from payment_core import metrics
from payment_core.audit import applied_by
from payment_core.contract import payment_error, payment_result
from payment_core.db import Database
from payment_core.errors import (
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    OrderPayError,
    PaymentRequired,
    StaleQuote,
    WebhookNotReady,
    WebhookRejected,
)
from payment_core.events import Topics, outbox_table, write_event, write_events
from payment_core.identity import Session
from payment_core.mscript import MScriptError
from payment_core.objects import ObjectStore, utcnow
from payment_core.payments.aftersale import AfterSale
from payment_core.payments.gateway import CardDeclined, StripeGateway, StripeRefused
from payment_core.payments.money import json_number, normalize_currency, to_major_units, to_minor_units
from payment_core.payments.records import SystemStore
from payment_core.payments.tables import (
    payment_customer_table,
    payment_method_table,
    payment_object_name,
    payment_table,
    webhook_delivery_table,
)
from payment_core.payments.throttle import Throttle
from payment_core.payments.transitions import Transition, TransitionStatements, apply_intent
from payment_core.spec import PAYMENT_CONFIRMATION, LoadedApp, OrderScripts

log = logging.getLogger("orderpay.payments")

# Payment states in which Stripe may still move money: the order's payment-bound fields are frozen.
IN_FLIGHT_STATUSES = ("requires_action", "processing", "requires_capture")


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


@dataclass(frozen=True)
class PaymentOutcome:
    order: dict[str, Any]
    payment_result: dict[str, Any] | None


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    status: str  # processed | ignored | duplicate


@dataclass(frozen=True)
class OrderPayments:
    """Everything the flow needs about one order object."""

    store: ObjectStore
    scripts: OrderScripts
    table: Table  # sys_{object}Payment
    records: SystemStore
    transitions: TransitionStatements

    @property
    def name(self) -> str:
        return self.store.obj.name

    @property
    def service_name(self) -> str:
        return self.store.service.name


class PaymentService:
    def __init__(self, *, db: Database, app: LoadedApp, stores: dict[str, ObjectStore], metadata: MetaData,
                 gateway: StripeGateway, webhook_secrets: list[str], webhook_tolerance: int, throttle: Throttle,
                 stale_attempt_seconds: float = 60.0) -> None:
        self.db, self.app, self.gateway, self.throttle = db, app, gateway, throttle
        # After this long, an attempt still marked `calling` cannot have its Stripe call in flight any more.
        self.stale_attempt_seconds = stale_attempt_seconds
        self.webhook_secrets, self.webhook_tolerance = webhook_secrets, webhook_tolerance
        self.topics = Topics(app.codename)
        self.outbox = outbox_table(metadata)
        self.deliveries = webhook_delivery_table(metadata)
        self._finish_delivery_statement = update(self.deliveries).where(self.deliveries.c.eventId == bindparam("w_event"))
        orders = app.spec.order_objects()
        # Payment customers and methods are one set for the whole app, named after its first order service.
        home = orders[0][0].name if orders else app.spec.services[0].name
        self.customers = SystemStore(db, payment_customer_table(metadata), self.outbox,
                                     self.topics.dbevent(home, "sys_paymentCustomer", "").rstrip("-"))
        self.methods = SystemStore(db, payment_method_table(metadata), self.outbox,
                                   self.topics.dbevent(home, "sys_paymentMethod", "").rstrip("-"))
        self.orders: dict[str, OrderPayments] = {}
        self.after_sale = AfterSale(self, metadata)  # refunds, disputes, cancel, the audit trail
        self.audit = self.after_sale.audit
        for service, obj in orders:
            table = payment_table(metadata, obj)
            topic = self.topics.dbevent(service.name, payment_object_name(obj), "").rstrip("-")
            payments = OrderPayments(stores[obj.name], app.order_scripts[obj.name], table,
                                     SystemStore(db, table, self.outbox, topic), TransitionStatements(table))
            self.orders[obj.name] = payments
            scripts = payments.scripts
            payments.store.frozen_fields = frozenset(
                field for script in (scripts.amount, scripts.currency, scripts.description)
                for object_name, field in script.references if object_name == obj.name)
            payments.store.payment_guard = self._order_guard(payments)

    def topic_names(self) -> list[str]:
        """Every topic this app's payment flow writes to."""
        names = [self.topics.payment(p.service_name, p.name, event)
                 for p in self.orders.values() for event in ("started", "refreshed", "calledback", "autorefunded",
                                                                  *self.after_sale.topic_events())]
        stores = [self.customers, self.methods, *(p.records for p in self.orders.values())]
        names += [f"{store.topic}-{event}" for store in stores for event in ("created", "updated", "deleted")]
        return names

    def order_payments(self, object_name: str) -> OrderPayments:
        for name, payments in self.orders.items():
            if name.lower() == object_name.lower():
                return payments
        raise NotFound(f"`{object_name}` is not an order object of this app")

    # -- saved cards ---------------------------------------------------------

    async def list_payment_methods(self, session: Session) -> list[dict[str, Any]]:
        return await self.methods.list_by_query({"userId": uuid.UUID(session.user_id)}, newest_first=False)

    async def add_payment_method(self, session: Session, payment_method_id: Any) -> dict[str, Any]:
        pm_id = _stripe_id(payment_method_id, "pm_", "paymentMethodId")
        await self.throttle.check(session.user_id, "card")
        user = uuid.UUID(session.user_id)
        async with self.db.engine.connect() as conn:
            existing = (await conn.execute(select(self.methods.table).where(self.methods.table.c.paymentMethodId == pm_id))).first()
        if existing is not None and existing.userId != user:
            raise NotFound("paymentMethodId: no such payment method", field="paymentMethodId")
        customer_id = await self._customer_id(session)
        method = await self.gateway.retrieve_payment_method(pm_id)
        attached_to = method.get("customer")
        if attached_to and attached_to != customer_id:
            raise NotFound("paymentMethodId: no such payment method", field="paymentMethodId")
        if method.get("type") != "card" or not method.get("card"):
            raise BadInput("paymentMethodId: only cards can be saved", field="paymentMethodId")
        same_card = await self._saved_card_with_fingerprint(user, (method["card"] or {}).get("fingerprint"))
        if same_card is not None and same_card["paymentMethodId"] != pm_id:
            if await self._attached_at_stripe(same_card):
                return same_card  # the same card (Stripe's fingerprint) typed again: listed once, not attached twice
            # Detached at Stripe (its dashboard) since it was saved: it can never pay again, so the new one is saved.
            await self._mark_unusable(same_card)
        if not attached_to:
            method = await self._attach(session, pm_id, customer_id)
            customer_id = method.get("customer") or customer_id
        pm_id = method["id"]  # a test id such as pm_card_visa becomes a real payment method when attached
        billing = method.get("billing_details") or {}
        values = {
            "paymentMethodId": pm_id, "userId": user, "customerId": customer_id, "platform": "stripe", "_owner": user,
            "cardHolderName": billing.get("name"), "cardHolderZip": (billing.get("address") or {}).get("postal_code"),
            "cardInfo": _card_info(method["card"]), "isActive": True,
        }
        if existing is not None:  # saved before and deleted since: bring it back
            restored = await self.methods.update_by_id(existing.id, values, include_inactive=True)
            assert restored is not None
            return restored
        try:
            return await self.methods.create(values)
        except IntegrityError:  # the same card added twice at once: one row
            again = await self.methods.get_by_query({"paymentMethodId": pm_id})
            if again is None or again["userId"] != session.user_id:
                raise NotFound("paymentMethodId: no such payment method", field="paymentMethodId") from None
            return again

    async def _attach(self, session: Session, pm_id: str, customer_id: str) -> dict[str, Any]:
        """Attach a card to the buyer's customer. A card Stripe declines at attach is a 402 and saved
        nowhere; a customer the configured Stripe account does not know is replaced first."""
        try:
            try:
                return await self.gateway.attach_payment_method(pm_id, customer_id)
            except StripeRefused as refused:
                if not refused.missing_customer:
                    raise
                return await self.gateway.attach_payment_method(pm_id, await self._replace_customer(session, customer_id))
        except CardDeclined as declined:
            refused = PaymentRequired(f"Stripe: {declined.message}", field="paymentMethodId",
                                      details={"declineCode": declined.decline_code})
            refused.code = declined.code or refused.code  # the envelope's errCode: Stripe's code
            raise refused from None

    async def _saved_card_with_fingerprint(self, user: uuid.UUID, fingerprint: str | None) -> dict[str, Any] | None:
        """The buyer's usable saved card for the same physical card, if any (unusable ones stay listed beside it)."""
        if not fingerprint:
            return None
        saved = await self.methods.list_by_query({"userId": user}, newest_first=False)
        return next((card for card in saved
                     if _usable(card) and (card.get("cardInfo") or {}).get("fingerprint") == fingerprint), None)

    async def _attached_at_stripe(self, card: dict[str, Any]) -> bool:
        """Whether a saved card is still attached to its customer at Stripe (one retrieve): a card detached
        there, e.g. in Stripe's dashboard, can never be charged again."""
        try:
            method = await self.gateway.retrieve_payment_method(card["paymentMethodId"])
        except StripeRefused as refused:
            if refused.missing_object:
                return False
            raise
        return method.get("customer") == card["customerId"]

    async def _mark_unusable(self, card: dict[str, Any], *, conn: AsyncConnection | None = None) -> None:
        """A saved card Stripe can no longer charge (detached there, or of another Stripe account): it stays
        listed so the buyer sees and can delete it, and paying with it is refused before Stripe is asked."""
        await self.methods.update_by_id(card["id"], {"cardInfo": {**card["cardInfo"], "usable": False}}, conn=conn)

    async def delete_payment_method(self, session: Session, payment_method_id: Any) -> dict[str, Any]:
        pm_id = _stripe_id(payment_method_id, "pm_", "paymentMethodId")
        record = await self.methods.get_by_query({"paymentMethodId": pm_id, "userId": uuid.UUID(session.user_id)})
        if record is None:
            raise NotFound("paymentMethodId: no saved card with this id", field="paymentMethodId")
        if _usable(record):  # a card of a previous Stripe account exists nowhere Stripe could detach it from
            await self.gateway.detach_payment_method(pm_id)
        deleted = await self.methods.delete_by_id(record["id"])
        return deleted or record

    async def _customer_id(self, session: Session) -> str:
        """The user's Stripe customer, created once (the idempotency key makes concurrent first uses agree)."""
        user = uuid.UUID(session.user_id)
        found = await self.customers.get_by_query({"userId": user})
        if found:
            return found["customerId"]
        customer_id = await self.gateway.create_customer(
            user_id=session.user_id, email=session.email, name=session.full_name,
            idempotency_key=f"orderpay-{self.app.codename}-customer-{session.user_id}",
        )
        try:
            await self.customers.create({"userId": user, "customerId": customer_id, "platform": "stripe", "_owner": user})
        except IntegrityError:
            pass  # created concurrently by the same user's other request: same customer id
        return customer_id

    async def _replace_customer(self, session: Session, stale_customer_id: str) -> str:
        """The stored customer is unknown to the configured Stripe account ("No such customer": the keys
        were switched, the sandbox reset): a new customer replaces it, and the cards saved under the old
        one are marked unusable (they stay listed, and can be deleted)."""
        user = uuid.UUID(session.user_id)
        customer_id = await self.gateway.create_customer(
            user_id=session.user_id, email=session.email, name=session.full_name,
            idempotency_key=f"orderpay-{self.app.codename}-customer-{session.user_id}-after-{stale_customer_id}",
        )
        async with self.db.engine.begin() as conn:
            await self.customers.update_by_query({"userId": user, "customerId": stale_customer_id},
                                                 {"customerId": customer_id}, conn=conn)
            for card in await self.methods.list_by_query({"userId": user, "customerId": stale_customer_id}, conn=conn):
                await self._mark_unusable(card, conn=conn)
        log.warning("stored Stripe customer unknown to the configured account: replaced",
                    extra={"userId": session.user_id, "oldCustomerId": stale_customer_id, "customerId": customer_id})
        return customer_id

    # -- checkout --------------------------------------------------------------

    async def checkout_summary(self, session: Session, object_name: str, order_id: str) -> CheckoutSummary:
        """What paying this order would charge; refuses orders that cannot be paid. Charges nothing."""
        payments = self.order_payments(object_name)
        order = await payments.store.get(session, order_id)
        summary = self.summary_of(payments, order)
        if order.get(PAYMENT_CONFIRMATION) == "paid":
            raise Conflict("this order is already paid")
        record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])})
        if record and record["paymentStatus"] in ("processing", "requires_capture"):
            raise Conflict("a payment for this order is already processing")
        return summary

    def summary_of(self, payments: OrderPayments, order: dict[str, Any]) -> CheckoutSummary:
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

    async def start_payment(self, session: Session, object_name: str, order_id: str, params: Any, *,
                            one_off_card: bool = False) -> PaymentOutcome:
        """Create and confirm the PaymentIntent with the buyer's saved card, in one step (seed 002).

        With `paymentUserParams.quote` (what the payment card showed) the payment is bound to it: a
        quote that is not the order's current one is a 409 carrying the current quote. Without one
        (the seeds' frontends) the order's current amount is paid.

        `one_off_card`: pay with a card typed for this payment instead (a pay link opened without
        the buyer's session): never one of their saved cards, and never saved.
        """
        user_params = _payment_user_params(params)
        payments = self.order_payments(object_name)
        await self.throttle.check(session.user_id, "payment")
        order = await payments.store.get(session, order_id)
        owner = order.get(payments.store.obj.owner_property)
        if owner != session.user_id and not session.is_super_admin:
            raise NotFound()
        if one_off_card:
            method = await self._one_off_card(session, user_params["paymentMethodId"])
        else:
            method = await self.methods.get_by_query(
                {"paymentMethodId": user_params["paymentMethodId"], "userId": uuid.UUID(session.user_id)})
            if method is None:  # a card typed for this payment and not saved (the checkout's choice)
                method = await self._one_off_card(session, user_params["paymentMethodId"])
        if not _usable(method):
            raise BadInput("paymentMethodId: this card can no longer pay (removed at Stripe, or saved with another "
                           "Stripe account); add it again",
                           field="paymentMethodId")
        summary = self.summary_of(payments, order)
        quote = user_params.get("quote")
        if quote is not None and not _quote_matches(quote, summary):
            raise _stale(summary)
        claimed = await self._claim_attempt(payments, session, summary, method, user_params)
        if isinstance(claimed, PaymentOutcome):  # the unfinished attempt it found had reached Stripe
            return claimed
        record = claimed
        intent_params = {
            "amount": summary.amount_minor, "currency": summary.currency.lower(), "customer": method["customerId"],
            "payment_method": method["paymentMethodId"], "description": summary.description[:1000],
            "payment_method_types": ["card"],
            "metadata": {
                "orderpayApp": self.app.codename, "orderpayObject": payments.name, "orderId": summary.order_id,
                "orderpayAttempt": str(record["attempt"]), "checkoutName": payments.store.obj.order.orderName,
                "order": f"{payments.service_name}-{payments.name}-order",
            },
        }
        if user_params.get("return_url"):
            intent_params["return_url"] = user_params["return_url"]
        try:
            intent = await self.gateway.create_and_confirm(intent_params, idempotency_key=record["idempotencyKey"])
        except CardDeclined as declined:
            if declined.intent is not None:
                outcome = await self._apply(payments, declined.intent, "started", user_params=user_params, session=session,
                                            attempt=record["attempt"])
                return PaymentOutcome(outcome.order, _payment_error(declined))
            await self._settle_unanswered(payments, record, {"code": declined.code, "decline_code": declined.decline_code,
                                                             "message": declined.message, "type": "card_error"})
            return PaymentOutcome(await payments.store.get(session, order_id), _payment_error(declined))
        except StripeRefused as refused:
            # Stripe refused the call itself (an amount below its minimum, a detached card, a customer of
            # another account): it did nothing, so the attempt is over and another card may pay at once.
            await self._settle_unanswered(payments, record, {"code": refused.stripe_code, "message": refused.message,
                                                             "type": "invalid_request_error"})
            if refused.missing_customer:
                await self._replace_customer(session, method["customerId"])
                refused.message = "this card was saved with another Stripe account; add it again"
            elif refused.param == "payment_method" and "id" in method and not await self._still_chargeable(method):
                await self._mark_unusable(method)
                refused.message = "this card was removed at Stripe (e.g. in its dashboard); add it again"
            return PaymentOutcome(await payments.store.get(session, order_id), _refusal_error(refused))
        return await self._apply(payments, intent, "started", user_params=user_params, session=session,
                                 attempt=record["attempt"])

    async def _still_chargeable(self, card: dict[str, Any]) -> bool:
        """After Stripe refused a saved card: whether it is still attached. Unknown (Stripe unreachable) counts
        as attached: the refusal is answered as it is, and the card is checked again the next time."""
        try:
            return await self._attached_at_stripe(card)
        except OrderPayError:  # Stripe unreachable or refusing the retrieve too
            return True

    async def _settle_unanswered(self, payments: OrderPayments, record: dict[str, Any], error: dict[str, Any]) -> None:
        """End an attempt Stripe answered without an intent: nothing was charged, the order is unchanged."""
        await payments.records.update_by_query(
            {"id": uuid.UUID(record["id"]), "attempt": record["attempt"], "attemptState": "calling"},
            {"attemptState": "settled", "statusLiteral": "failed", "lastError": error})

    async def _one_off_card(self, session: Session, pm_id: str) -> dict[str, Any]:
        """A card typed for one payment: a new payment method attached to no customer. The intent is
        still made for the buyer's customer (the stale-attempt recovery finds intents by customer),
        which Stripe allows without attaching the card; with no `setup_future_usage` it stays unsaved,
        and Stripe refuses to use it again once this payment has used it."""
        saved = await self.methods.get_by_query({"paymentMethodId": pm_id}, include_inactive=True)
        method = await self.gateway.retrieve_payment_method(pm_id) if saved is None else None
        if method is None or method.get("customer"):  # a saved card, anyone's: not with this authority
            raise NotFound("paymentMethodId: only a card entered on this page can pay here", field="paymentMethodId")
        if method.get("type") != "card" or not method.get("card"):
            raise BadInput("paymentMethodId: must be a card", field="paymentMethodId")
        return {"paymentMethodId": method["id"], "customerId": await self._customer_id(session)}

    async def _claim_attempt(self, payments: OrderPayments, session: Session, summary: CheckoutSummary,
                             method: dict[str, Any], user_params: dict[str, Any]) -> dict[str, Any] | PaymentOutcome:
        """Reserve the payment attempt and its idempotency key before calling Stripe.

        The claim holds the order's lock and re-reads it, so an order changed meanwhile is a stale
        quote, and a change of its payment-bound fields waits for (and then sees) the claim. An
        unfinished attempt is first looked up at Stripe by its metadata: if Stripe made its intent,
        that is applied and answered (no second charge, even after Stripe forgot the idempotency key);
        if not, a retry with the same card reuses the key, and a new card waits until the old call
        can no longer be in flight.
        """
        order_uuid = uuid.UUID(summary.order["id"])
        user = uuid.UUID(session.user_id)

        def claim(attempt: int) -> dict[str, Any]:
            return {
                "attempt": attempt, "attemptState": "calling", "paymentId": None, "stage": 0,
                "paymentStatus": "requires_payment_method", "statusLiteral": "started",
                "idempotencyKey": f"orderpay-{self.app.codename}-{payments.name}-{order_uuid}-{attempt}",
                "paymentMethodId": method["paymentMethodId"], "amount": summary.amount_minor,
                "currency": summary.currency, "redirectUrl": user_params.get("return_url"), "lastError": None,
                "isActive": True,
            }

        for _ in range(5):
            # A record deleted through the records API is brought back, not duplicated.
            record = await payments.records.get_by_query({"orderId": order_uuid}, include_inactive=True)
            if record is None:  # the first attempt creates the record already claimed
                try:
                    async with self.db.engine.begin() as conn:
                        created = await payments.records.create({"orderId": order_uuid, "ownerId": user, "_owner": user,
                                                                 **claim(1)}, conn=conn)
                        await self._lock_terms(conn, payments, summary)
                        return created
                except IntegrityError:
                    continue  # created by a concurrent click; read it again
            if record["statusLiteral"] == "success" or summary.order.get(PAYMENT_CONFIRMATION) == "paid":
                raise Conflict("this order is already paid")
            if record["paymentStatus"] in ("processing", "requires_capture"):
                raise Conflict("a payment for this order is already processing")
            if record["attemptState"] == "calling":
                state, outcome = await self._resolve_attempt(payments, record)
                if outcome is not None:
                    return outcome
                if state == "settled":
                    continue
                same = (record["paymentMethodId"], record["amount"], record["currency"]) == (
                    method["paymentMethodId"], summary.amount_minor, summary.currency)
                if same and not record["paymentId"]:
                    return record  # the same attempt again, never made at Stripe: same idempotency key
                raise Conflict("the previous payment attempt is still being confirmed; try again in a moment")
            if record["paymentStatus"] == "requires_action" and record["paymentId"]:
                # An unfinished 3-D Secure attempt must not be completable once a new one starts.
                await self._cancel_abandoned(payments, record["paymentId"])
                continue  # the record moved on: decide again on what it is now
            async with self.db.engine.begin() as conn:
                statement, where = payments.records.update_where(
                    {"id": uuid.UUID(record["id"]), "recordVersion": record["recordVersion"]})
                row = (await conn.execute(statement, {**claim(record["attempt"] + 1), "updatedAt": utcnow(), **where})).first()
                if row is not None:
                    await self._lock_terms(conn, payments, summary)
                    claimed = payments.records.to_api(row)
                    await write_event(conn, self.outbox, f"{payments.records.topic}-updated", {"record": claimed},
                                      key=claimed["id"])
                    return claimed
        raise Conflict("this order's payment is changing right now; try again")

    async def _lock_terms(self, conn: AsyncConnection, payments: OrderPayments, summary: CheckoutSummary) -> None:
        """Lock the order for the claim and check it still has the terms the buyer is paying; raising
        rolls the claim back. Called after the claim's write to the payment record: record, then
        order, the order in which transitions lock them too (no deadlock between the two)."""
        row = (await conn.execute(payments.store.lock_row_by_id, {"row_id": uuid.UUID(summary.order["id"])})).first()
        if row is None or not row.isActive:
            raise NotFound()
        order = payments.store.to_api(row)
        if order.get(PAYMENT_CONFIRMATION) == "paid":
            raise Conflict("this order is already paid")
        current = self.summary_of(payments, order)
        if not current.same_terms(summary):
            raise _stale(current)

    def _order_guard(self, payments: OrderPayments) -> Any:
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

    async def _attempt_customer(self, record: dict[str, Any]) -> str | None:
        """The Stripe customer an attempt charged: its card's (deleted cards included)."""
        if record.get("paymentMethodId"):
            card = await self.methods.get_by_query({"paymentMethodId": record["paymentMethodId"]}, include_inactive=True)
            if card is not None:
                return card["customerId"]
        if record.get("ownerId"):
            customer = await self.customers.get_by_query({"userId": uuid.UUID(record["ownerId"])})
            if customer is not None:
                return customer["customerId"]
        return None

    async def _find_attempt_intent(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The intent Stripe made for this attempt, found by the metadata orderpay gave it (the
        customer's latest 100 intents), or None when Stripe made none."""
        customer_id = await self._attempt_customer(record)
        if customer_id is None:
            return None
        for intent in await self.gateway.list_customer_intents(customer_id):
            metadata = intent.get("metadata") or {}
            if (metadata.get("orderpayApp") == self.app.codename and metadata.get("orderId") == record["orderId"]
                    and metadata.get("orderpayAttempt") == str(record["attempt"])):
                return intent
        return None

    async def _resolve_attempt(self, payments: OrderPayments, record: dict[str, Any], *,
                               age: float | None = None) -> tuple[str, PaymentOutcome | None]:
        """Apply Stripe's truth to an attempt whose answer never came (a timeout, a process gone):

        - ("applied", outcome): Stripe made its intent; it is applied (charged at most once);
        - ("settled", None): Stripe made none and the call can no longer be in flight: nothing happened;
        - ("pending", None): Stripe made none yet, but the call may still be on its way.
        """
        intent = await self._find_attempt_intent(record)
        if intent is not None:
            return "applied", await self._apply(payments, intent, "refreshed", attempt=record["attempt"])
        if age is None:
            age = (utcnow() - datetime.fromisoformat(record["updatedAt"].replace("Z", "+00:00"))).total_seconds()
        if age < self.stale_attempt_seconds:
            return "pending", None
        async with self.db.engine.begin() as conn:  # never reached Stripe: the attempt is over
            await conn.execute(update(payments.table).where(
                payments.table.c.id == uuid.UUID(record["id"]),
                payments.table.c.recordVersion == record["recordVersion"],
            ).values(attemptState="settled", updatedAt=utcnow(), recordVersion=payments.table.c.recordVersion + 1))
        return "settled", None

    async def _cancel_abandoned(self, payments: OrderPayments, intent_id: str) -> None:
        try:
            intent = await self.gateway.cancel_intent(intent_id)
        except (BadInput, Conflict):
            intent = await self.gateway.retrieve_intent(intent_id)  # it moved on meanwhile: take its real state
        await self._apply(payments, intent, "refreshed")

    async def payment_state(self, session: Session, object_name: str, order_id: str) -> PaymentOutcome:
        """The order and its payment as last recorded, without asking Stripe (a read: no writes)."""
        payments = self.order_payments(object_name)
        order = await payments.store.get(session, order_id)
        record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])})
        return PaymentOutcome(order, self._result(payments, record, None, with_secret=False))

    async def refresh_payment(self, session: Session, object_name: str, order_id: str) -> PaymentOutcome:
        """Fetch the current intent from Stripe and apply it (seed 004's refresh API, for polling). An
        attempt whose answer was lost (no intent id yet) is looked up at Stripe by its metadata."""
        payments = self.order_payments(object_name)
        order = await payments.store.get(session, order_id)
        record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])})
        if record is None:
            return PaymentOutcome(order, None)
        if not record["paymentId"]:
            if record["attemptState"] == "calling":
                state, outcome = await self._resolve_attempt(payments, record)
                if outcome is not None:
                    return outcome
                if state == "settled":
                    record = await payments.records.get_by_query({"orderId": uuid.UUID(order["id"])}) or record
            return PaymentOutcome(order, self._result(payments, record, None))
        intent = await self.gateway.retrieve_intent(record["paymentId"])
        return await self.after_sale.refreshed(payments, await self._apply(payments, intent, "refreshed", session=session))

    # -- recovery without a click ----------------------------------------------

    async def reconcile(self, *, older_than: float, limit: int = 50) -> int:
        """Apply Stripe's truth to attempts left `calling`, `requires_action` or `processing` for longer
        than `older_than` seconds; returns how many were looked at. Safe on many replicas at once: each
        record is claimed with a conditional UPDATE (its version), which one replica alone wins, and
        the claim's new `updatedAt` keeps the others off it for another `older_than` seconds."""
        done = 0
        with applied_by("reconciler"):  # the audit entries of this pass say who applied them
            for payments in self.orders.values():
                table = payments.table
                stale = (select(table).where(
                    table.c.isActive.is_(True),
                    or_(table.c.attemptState == "calling", table.c.paymentStatus.in_(IN_FLIGHT_STATUSES)),
                    table.c.updatedAt < utcnow() - timedelta(seconds=older_than),
                ).order_by(table.c.updatedAt).limit(limit))
                async with self.db.engine.connect() as conn:
                    candidates = (await conn.execute(stale)).all()
                for row in candidates:
                    now = utcnow()
                    async with self.db.engine.begin() as conn:
                        won = (await conn.execute(
                            update(table).where(table.c.id == row.id, table.c.recordVersion == row.recordVersion)
                            .values(updatedAt=now, recordVersion=table.c.recordVersion + 1).returning(*table.c))).first()
                    if won is None:
                        continue  # another replica (or the buyer) got there first
                    record = payments.records.to_api(won)
                    try:
                        if record["paymentId"]:
                            await self._apply(payments, await self.gateway.retrieve_intent(record["paymentId"]), "refreshed")
                        else:
                            updated_at = row.updatedAt if row.updatedAt.tzinfo else row.updatedAt.replace(tzinfo=now.tzinfo)
                            await self._resolve_attempt(payments, record, age=(now - updated_at).total_seconds())
                    except OrderPayError as exc:  # Stripe unavailable: the next pass tries again
                        log.warning("reconciling a payment failed", extra={"orderId": record["orderId"], "reason": exc.message})
                    done += 1
        return done

    async def run_reconciler(self, *, older_than: float, interval: float) -> None:
        """The reconciler's loop, one per process (the runtime starts it)."""
        while True:
            try:
                metrics.reconciler_sweep(self.app.codename, await self.reconcile(older_than=older_than))
            except Exception:  # never let one bad pass stop recovery
                log.exception("payment reconciliation pass failed")
            await asyncio.sleep(interval)

    async def _refund_unwanted(self, payments: OrderPayments, intent: dict[str, Any], reason: str) -> None:
        """A succeeded charge that pays nothing (the order is already paid by another, or the charge is not
        for the terms of its attempt) is refunded in full, logged and published."""
        metadata = intent.get("metadata") or {}
        if any(refund.get("status") not in ("failed", "canceled") for refund in await self.gateway.list_refunds(intent["id"])):
            return  # refunded before (by us or by a person)
        refund = await self.gateway.refund_intent(intent["id"], reason="duplicate", metadata={
            "orderpayApp": self.app.codename, "orderId": str(metadata.get("orderId")), "orderpayReason": reason})
        log.warning("unwanted charge refunded", extra={"object": payments.name, "orderId": metadata.get("orderId"),
                                                       "paymentId": intent["id"], "refundId": refund["id"], "reason": reason})
        currency = str(intent.get("currency") or "").upper()
        async with self.db.engine.begin() as conn:
            await write_event(conn, self.outbox, self.topics.payment(payments.service_name, payments.name, "autorefunded"), {
                "orderId": metadata.get("orderId"), "paymentId": intent["id"], "refundId": refund["id"],
                "refundStatus": refund.get("status"), "reason": reason,
                "amount": json_number(to_major_units(int(intent.get("amount") or 0), currency)) if currency else None,
                "currency": currency or None,
            }, key=str(metadata.get("orderId")))

    async def _apply(self, payments: OrderPayments, intent: dict[str, Any], event: str, *,
                     user_params: dict[str, Any] | None = None, webhook: dict[str, Any] | None = None,
                     attempt: int | None = None, session: Session | None = None) -> PaymentOutcome:
        order_id = uuid.UUID(intent.get("metadata", {}).get("orderId") or "00000000-0000-0000-0000-000000000000")
        async with self.db.engine.begin() as conn:
            transition = await apply_intent(conn, statements=payments.transitions, store=payments.store,
                                            scripts=payments.scripts, order_id=order_id, intent=intent, attempt=attempt)
            if transition is not None:
                await self._record_transition(conn, payments, transition, intent, event, user_params, webhook, session)
                record, order = payments.records.from_columns(transition.record), transition.order
            else:  # nothing changed: report the state as it is
                record = await payments.records.get_by_query({"orderId": order_id}, conn=conn)
                row = (await conn.execute(payments.store.row_by_id, {"row_id": order_id})).first()
                order = payments.store.to_api(row) if row else {}
        if transition is not None:  # committed: count it (once: the transition is a conditional update)
            metrics.payment_transition(self.app.codename, payments.name, transition.record["statusLiteral"])
        if transition is None and intent["status"] == "succeeded" and not (
                record is not None and record["paymentId"] == intent["id"] and record["statusLiteral"] == "success"):
            # Money taken that pays for nothing: a second charge of a paid order, or not the attempt's terms.
            reason = "order_already_paid" if order.get(PAYMENT_CONFIRMATION) == "paid" else "terms_mismatch"
            try:
                await self._refund_unwanted(payments, intent, reason)
            except OrderPayError as exc:
                if webhook is not None:
                    raise  # the delivery fails and Stripe delivers it again: the refund is retried
                log.error("refunding an unwanted charge failed", extra={"paymentId": intent["id"], "reason": exc.message})
            if record is not None and record["paymentId"] == intent["id"]:
                record = {**record, "statusLiteral": "failed"}  # never report a refunded charge as paid
        return PaymentOutcome(order, self._result(payments, record, intent, user_params))

    async def _record_transition(self, conn: Any, payments: OrderPayments, transition: Transition, intent: dict[str, Any],
                                 event: str, user_params: dict[str, Any] | None, webhook: dict[str, Any] | None,
                                 session: Session | None) -> None:
        record = payments.records.from_columns(transition.record)
        # The seeds' edge-function request: the latest order under its object name, and the session if any.
        payload: dict[str, Any] = {payments.name: transition.order, "session": _session_json(session)}
        if webhook is not None:
            payload["webhookData"] = _without_client_secret(webhook)
        else:
            payload["paymentResult"] = self._result(payments, record, intent, user_params, with_secret=False)
        topic = self.topics.payment(payments.service_name, payments.name, event)
        await write_events(conn, self.outbox, [
            (f"{payments.records.topic}-updated", {"record": record}, record["id"]),
            (topic, payload, transition.order["id"]),
        ])
        await self.after_sale.transition(conn, payments, transition, intent, event)
        log.info("payment transition", extra={"object": payments.name, "orderId": transition.order["id"],
                                              "paymentId": intent["id"], "status": intent["status"], "via": event})

    def _result(self, payments: OrderPayments, record: dict[str, Any] | None, intent: dict[str, Any] | None,
                user_params: dict[str, Any] | None = None, *, with_secret: bool = True) -> dict[str, Any] | None:
        """The seeds' paymentResult (`contract.payment_result`), its amount in the currency's major units."""
        if record is None:
            return None
        currency = (record.get("currency") or (intent or {}).get("currency") or "").upper()
        amount = to_major_units(record["amount"], currency) if record.get("amount") is not None and currency else None
        return payment_result(record, intent, publishable_key=self.gateway.publishable_key,
                              amount=json_number(amount) if amount is not None else None, currency=currency or None,
                              user_params=user_params, with_secret=with_secret)

    # -- webhooks --------------------------------------------------------------

    async def handle_webhook(self, payload: bytes, signature: str | None, *,
                             expected: tuple[str, str] | None = None) -> WebhookOutcome:
        """Verify, store, then apply a Stripe webhook delivery.

        Stored before processing; applied in one transaction with its events, so a failure half
        way applies nothing and the delivery (kept as `failed`) is processed again on Stripe's retry.
        """
        event = self._verify(payload, signature)
        event_id, event_type = event["id"], event["type"]
        # Stored as events carry it: without the intent's client secret and next-action URLs.
        status = await self._store_delivery(event_id, event_type, json.dumps(_without_client_secret(event)).encode())
        if status in ("processed", "ignored"):
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

    def _verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        if not self.webhook_secrets:
            raise WebhookRejected("webhooks are refused: no signing secret is configured")
        if not signature:
            raise WebhookRejected("missing Stripe-Signature header")
        timestamps = [part[2:] for part in signature.split(",") if part.startswith("t=")]
        if not timestamps or not timestamps[0].isdigit():
            raise WebhookRejected("malformed Stripe-Signature header")
        if int(timestamps[0]) > time.time() + self.webhook_tolerance:
            raise WebhookRejected("the signature's timestamp is in the future")
        text = payload.decode("utf-8", errors="replace")
        for secret in self.webhook_secrets:  # several during a secret rotation
            try:
                stripe.WebhookSignature.verify_header(text, signature, secret, self.webhook_tolerance)
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

    async def _store_delivery(self, event_id: str, event_type: str, payload: bytes) -> str:
        table = self.deliveries
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(table.insert(), {
                    "id": uuid.uuid4(), "eventId": event_id, "type": event_type,
                    "payload": payload.decode("utf-8", "replace"), "status": "received", "deliveries": 1,
                    "receivedAt": utcnow()})
            return "received"
        except IntegrityError:
            async with self.db.engine.begin() as conn:
                await conn.execute(update(table).where(table.c.eventId == event_id)
                                   .values(deliveries=table.c.deliveries + 1))
                return (await conn.execute(select(table.c.status).where(table.c.eventId == event_id))).scalar_one()

    async def _finish_delivery(self, event_id: str, status: str, *, error: str | None = None) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(self._finish_delivery_statement,
                               {"w_event": event_id, "status": status, "lastError": error, "processedAt": utcnow()})

    async def _process(self, event: dict[str, Any], expected: tuple[str, str] | None) -> str:
        if not event["type"].startswith("payment_intent."):
            return await self.after_sale.handle_event(event)
        intent = (event.get("data") or {}).get("object") or {}
        metadata = intent.get("metadata") or {}
        if metadata.get("orderpayApp") != self.app.codename or metadata.get("orderpayObject") not in self.orders:
            return "ignored"  # not one of ours: Stripe accounts are shared by many systems
        payments = self.orders[metadata["orderpayObject"]]
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
        await self._apply(payments, intent, "calledback", webhook=event,
                          attempt=int(attempt) if attempt and attempt.isdigit() else None)
        return "processed"

    # -- payment records (seed 004's record APIs) ------------------------------

    async def payment_record(self, session: Session, object_name: str, *, by: str, value: str) -> dict[str, Any]:
        payments = self.order_payments(object_name)
        query: dict[str, Any] = {by: _uuid_or_bad(value, by) if by in ("id", "orderId") else value}
        if not session.is_super_admin:
            query["ownerId"] = uuid.UUID(session.user_id)
        record = await payments.records.get_by_query(query)
        if record is None:
            raise NotFound()
        return record

    async def list_payment_records(self, session: Session, object_name: str, *, limit: int, offset: int) -> list[dict[str, Any]]:
        payments = self.order_payments(object_name)
        query = {} if session.is_super_admin else {"ownerId": uuid.UUID(session.user_id)}
        return await payments.records.list_by_query(query, limit=limit, offset=offset)

    async def create_payment_record(self, session: Session, object_name: str, data: Any) -> dict[str, Any]:
        """A payment record created by a client: only the order and the return page are theirs to set;
        the payment's state is written by the flow alone."""
        payments = self.order_payments(object_name)
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
        updated = await self.order_payments(object_name).records.update_by_id(record["id"], fields)
        return updated or record

    async def delete_payment_record(self, session: Session, object_name: str, record_id: str) -> dict[str, Any]:
        record = await self.payment_record(session, object_name, by="id", value=record_id)
        if record["attemptState"] == "calling" or record["paymentStatus"] in IN_FLIGHT_STATUSES:
            raise Conflict("a payment in progress cannot be deleted")
        if record["statusLiteral"] == "success":  # the evidence of money taken: refunds are made, records stay
            raise Conflict("the payment record of a paid order cannot be deleted")
        deleted = await self.order_payments(object_name).records.delete_by_id(record["id"])
        return deleted or record

    async def payment_customer(self, session: Session, user_id: str) -> dict[str, Any]:
        if user_id != session.user_id and not session.is_super_admin:
            raise NotFound()
        record = await self.customers.get_by_query({"userId": _uuid_or_bad(user_id, "userId")})
        if record is None:
            raise NotFound()
        return record

    async def list_payment_customers(self, session: Session, *, limit: int, offset: int) -> list[dict[str, Any]]:
        if not session.is_super_admin:
            raise Forbidden("listing payment customers is for administrators")
        return await self.customers.list_by_query({}, limit=limit, offset=offset)


def _without_client_secret(event: dict[str, Any]) -> dict[str, Any]:
    """A webhook event as events and the stored delivery may carry it: the intent's client secret
    (and the next-action URLs that embed it) stay out of the outbox, the broker and the database."""
    intent = dict((event.get("data") or {}).get("object") or {})
    intent.pop("client_secret", None)
    intent.pop("next_action", None)
    return {**event, "data": {**(event.get("data") or {}), "object": intent}}


def _session_json(session: Session | None) -> dict[str, Any] | None:
    if session is None:
        return None
    return {"userId": session.user_id, "email": session.email, "fullname": session.full_name, "roles": list(session.roles)}


def _stripe_id(value: Any, prefix: str, field: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefix) or not 3 < len(value) <= 255 or not value.isascii():
        raise BadInput(f"{field}: must be a Stripe id starting with `{prefix}`", field=field)
    return value


def _uuid_or_bad(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadInput(f"{field}: must be a UUID", field=field) from None


def _payment_user_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise BadInput("paymentUserParams: must be an object with paymentMethodId", field="paymentUserParams")
    unknown = sorted(set(params) - {"paymentMethodId", "return_url", "storeCard", "quote"})
    if unknown:
        raise BadInput(f"paymentUserParams.{unknown[0]}: is not a payment parameter", field=f"paymentUserParams.{unknown[0]}")
    pm = _stripe_id(params.get("paymentMethodId"), "pm_", "paymentUserParams.paymentMethodId")
    result: dict[str, Any] = {"paymentMethodId": pm}
    return_url = params.get("return_url")
    if return_url is not None:
        if not isinstance(return_url, str) or not return_url.startswith(("http://", "https://")) or len(return_url) > 2000:
            raise BadInput("paymentUserParams.return_url: must be an http(s) URL", field="paymentUserParams.return_url")
        result["return_url"] = return_url
    if params.get("quote") is not None:
        result["quote"] = _quote(params["quote"])
    return result


def _quote(value: Any) -> dict[str, Any]:
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


def _quote_matches(quote: dict[str, Any], summary: CheckoutSummary) -> bool:
    return (Decimal(str(quote["amount"])), quote["currency"], quote["version"]) == (
        summary.amount, summary.currency, summary.version)


def _stale(current: CheckoutSummary) -> StaleQuote:
    return StaleQuote(
        f"the {current.object_name} changed since its payment was shown: it now costs {current.amount} "
        f"{current.currency}; nothing was charged — show the new amount and pay again",
        details={"currentQuote": current.quote})


def _usable(card: dict[str, Any]) -> bool:
    """False for a card saved under a customer of another Stripe account (see `_replace_customer`)."""
    return (card.get("cardInfo") or {}).get("usable", True) is not False


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


def _card_info(card: dict[str, Any]) -> dict[str, Any]:
    checks = card.get("checks") or {}
    return {
        "brand": card.get("brand"), "last4": card.get("last4"), "funding": card.get("funding"),
        "exp_month": card.get("exp_month"), "exp_year": card.get("exp_year"), "fingerprint": card.get("fingerprint"),
        "checks": {"cvc_check": checks.get("cvc_check"), "address_postal_code_check": checks.get("address_postal_code_check")},
    }


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


def _payment_error(declined: CardDeclined) -> dict[str, Any]:
    """A declined card, as the seeds' payment error (status 500, as the seeds have it)."""
    return payment_error(500, declined.message, code=declined.code or "card_declined",
                         decline_code=declined.decline_code, intent=declined.intent)


def _refusal_error(refused: StripeRefused) -> dict[str, Any]:
    """A request Stripe refused outright, as the seeds' payment error: nothing was charged."""
    return payment_error(refused.status, refused.message, code=refused.stripe_code or "stripe_refused")
