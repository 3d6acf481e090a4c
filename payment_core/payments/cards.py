"""Saved cards and the buyer's Stripe customer (seed 002's card APIs).

A card is saved by attaching it to the buyer's Stripe customer, created once per user. The same
physical card (Stripe's fingerprint) is listed once; a card Stripe can no longer charge (detached in
its dashboard, or saved under a customer of another Stripe account) stays listed as unusable, so
the buyer sees and can delete it, and paying with it is refused before Stripe is asked.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from payment_core.errors import BadInput, NotFound, OrderPayError
from payment_core.identity import Session
from payment_core.payments.flow import Flow
from payment_core.payments.gateway import Declined, Refused
from payment_core.payments.throttle import Throttle

log = logging.getLogger("orderpay.payments")


class SavedCards:
    def __init__(self, flow: Flow, throttle: Throttle) -> None:
        self.flow, self.throttle = flow, throttle

    async def list_payment_methods(self, session: Session) -> list[dict[str, Any]]:
        return await self.flow.methods.list_by_query({"userId": uuid.UUID(session.user_id)}, newest_first=False)

    async def add_payment_method(self, session: Session, payment_method_id: Any) -> dict[str, Any]:
        pm_id = stripe_id(payment_method_id, "pm_", "paymentMethodId")
        await self.throttle.check(session.user_id, "card")
        user = uuid.UUID(session.user_id)
        methods = self.flow.methods.table
        async with self.flow.db.engine.connect() as conn:
            existing = (await conn.execute(select(methods).where(methods.c.paymentMethodId == pm_id))).first()
        if existing is not None and existing.userId != user:
            raise NotFound("paymentMethodId: no such payment method", field="paymentMethodId")
        customer_id = await self.customer_id(session)
        method = await self.flow.gateway.retrieve_payment_method(pm_id)
        if isinstance(method, Refused):
            raise method.error()
        attached_to = method.get("customer")
        if attached_to and attached_to != customer_id:
            raise NotFound("paymentMethodId: no such payment method", field="paymentMethodId")
        if method.get("type") != "card" or not method.get("card"):
            raise BadInput("paymentMethodId: only cards can be saved", field="paymentMethodId")
        same_card = await self._saved_card_with_fingerprint(user, (method["card"] or {}).get("fingerprint"))
        if same_card is not None and same_card["paymentMethodId"] != pm_id:
            if await self.attached_at_stripe(same_card):
                return same_card  # the same card (Stripe's fingerprint) typed again: listed once, not attached twice
            # Detached at Stripe (its dashboard) since it was saved: it can never pay again, so the new one is saved.
            await self.mark_unusable(same_card)
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
            restored = await self.flow.methods.update_by_id(existing.id, values, include_inactive=True)
            assert restored is not None
            return restored
        try:
            return await self.flow.methods.create(values)
        except IntegrityError:  # the same card added twice at once: one row
            again = await self.flow.methods.get_by_query({"paymentMethodId": pm_id})
            if again is None or again["userId"] != session.user_id:
                raise NotFound("paymentMethodId: no such payment method", field="paymentMethodId") from None
            return again

    async def _attach(self, session: Session, pm_id: str, customer_id: str) -> dict[str, Any]:
        """Attach a card to the buyer's customer. A card Stripe declines at attach is a 402 and saved
        nowhere; a customer the configured Stripe account does not know is replaced first."""
        attached = await self.flow.gateway.attach_payment_method(pm_id, customer_id)
        if isinstance(attached, Refused) and attached.missing_customer:
            attached = await self.flow.gateway.attach_payment_method(pm_id, await self.replace_customer(session, customer_id))
        match attached:
            case Declined():
                raise attached.error(field="paymentMethodId")
            case Refused():
                raise attached.error()
            case method:
                return method

    async def _saved_card_with_fingerprint(self, user: uuid.UUID, fingerprint: str | None) -> dict[str, Any] | None:
        """The buyer's usable saved card for the same physical card, if any (unusable ones stay listed beside it)."""
        if not fingerprint:
            return None
        saved = await self.flow.methods.list_by_query({"userId": user}, newest_first=False)
        return next((card for card in saved
                     if usable(card) and (card.get("cardInfo") or {}).get("fingerprint") == fingerprint), None)

    async def attached_at_stripe(self, card: dict[str, Any]) -> bool:
        """Whether a saved card is still attached to its customer at Stripe (one retrieve): a card detached
        there, e.g. in Stripe's dashboard, can never be charged again."""
        match await self.flow.gateway.retrieve_payment_method(card["paymentMethodId"]):
            case Refused(missing_object=True):
                return False
            case Refused() as refused:
                raise refused.error()
            case method:
                return method.get("customer") == card["customerId"]

    async def mark_unusable(self, card: dict[str, Any], *, conn: AsyncConnection | None = None) -> None:
        """A saved card Stripe can no longer charge (detached there, or of another Stripe account): it stays
        listed so the buyer sees and can delete it, and paying with it is refused before Stripe is asked."""
        await self.flow.methods.update_by_id(card["id"], {"cardInfo": {**card["cardInfo"], "usable": False}}, conn=conn)

    async def delete_payment_method(self, session: Session, payment_method_id: Any) -> dict[str, Any]:
        pm_id = stripe_id(payment_method_id, "pm_", "paymentMethodId")
        record = await self.flow.methods.get_by_query({"paymentMethodId": pm_id, "userId": uuid.UUID(session.user_id)})
        if record is None:
            raise NotFound("paymentMethodId: no saved card with this id", field="paymentMethodId")
        if usable(record):  # a card of a previous Stripe account exists nowhere Stripe could detach it from
            await self.flow.gateway.detach_payment_method(pm_id)
        deleted = await self.flow.methods.delete_by_id(record["id"])
        return deleted or record

    async def customer_id(self, session: Session) -> str:
        """The user's Stripe customer, created once (the idempotency key makes concurrent first uses agree)."""
        user = uuid.UUID(session.user_id)
        found = await self.flow.customers.get_by_query({"userId": user})
        if found:
            return found["customerId"]
        customer_id = await self.flow.gateway.create_customer(
            user_id=session.user_id, email=session.email, name=session.full_name,
            idempotency_key=f"orderpay-{self.flow.app.codename}-customer-{session.user_id}",
        )
        try:
            await self.flow.customers.create({"userId": user, "customerId": customer_id, "platform": "stripe", "_owner": user})
        except IntegrityError:
            pass  # created concurrently by the same user's other request: same customer id
        return customer_id

    async def replace_customer(self, session: Session, stale_customer_id: str) -> str:
        """The stored customer is unknown to the configured Stripe account ("No such customer": the keys
        were switched, the sandbox reset): a new customer replaces it, and the cards saved under the old
        one are marked unusable (they stay listed, and can be deleted)."""
        user = uuid.UUID(session.user_id)
        customer_id = await self.flow.gateway.create_customer(
            user_id=session.user_id, email=session.email, name=session.full_name,
            idempotency_key=f"orderpay-{self.flow.app.codename}-customer-{session.user_id}-after-{stale_customer_id}",
        )
        async with self.flow.db.engine.begin() as conn:
            await self.flow.customers.update_by_query({"userId": user, "customerId": stale_customer_id},
                                                      {"customerId": customer_id}, conn=conn)
            for card in await self.flow.methods.list_by_query({"userId": user, "customerId": stale_customer_id}, conn=conn):
                await self.mark_unusable(card, conn=conn)
        log.warning("stored Stripe customer unknown to the configured account: replaced",
                    extra={"userId": session.user_id, "oldCustomerId": stale_customer_id, "customerId": customer_id})
        return customer_id

    async def still_chargeable(self, card: dict[str, Any]) -> bool:
        """After Stripe refused a saved card: whether it is still attached. Unknown (Stripe unreachable) counts
        as attached: the refusal is answered as it is, and the card is checked again the next time."""
        try:
            return await self.attached_at_stripe(card)
        except OrderPayError:  # Stripe unreachable or refusing the retrieve too
            return True

    async def one_off_card(self, session: Session, pm_id: str) -> dict[str, Any]:
        """A card typed for one payment: a new payment method attached to no customer. The intent is
        still made for the buyer's customer (the stale-attempt recovery finds intents by customer),
        which Stripe allows without attaching the card; with no `setup_future_usage` it stays unsaved,
        and Stripe refuses to use it again once this payment has used it."""
        saved = await self.flow.methods.get_by_query({"paymentMethodId": pm_id}, include_inactive=True)
        method = await self.flow.gateway.retrieve_payment_method(pm_id) if saved is None else None
        if isinstance(method, Refused):
            raise method.error()
        if method is None or method.get("customer"):  # a saved card, anyone's: not with this authority
            raise NotFound("paymentMethodId: only a card entered on this page can pay here", field="paymentMethodId")
        if method.get("type") != "card" or not method.get("card"):
            raise BadInput("paymentMethodId: must be a card", field="paymentMethodId")
        return {"paymentMethodId": method["id"], "customerId": await self.customer_id(session)}


def stripe_id(value: Any, prefix: str, field: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefix) or not 3 < len(value) <= 255 or not value.isascii():
        raise BadInput(f"{field}: must be a Stripe id starting with `{prefix}`", field=field)
    return value


def usable(card: dict[str, Any]) -> bool:
    """False for a card saved under a customer of another Stripe account (see `SavedCards.replace_customer`)."""
    return (card.get("cardInfo") or {}).get("usable", True) is not False


def _card_info(card: dict[str, Any]) -> dict[str, Any]:
    checks = card.get("checks") or {}
    return {
        "brand": card.get("brand"), "last4": card.get("last4"), "funding": card.get("funding"),
        "exp_month": card.get("exp_month"), "exp_year": card.get("exp_year"), "fingerprint": card.get("fingerprint"),
        "checks": {"cvc_check": checks.get("cvc_check"), "address_postal_code_check": checks.get("address_postal_code_check")},
    }
