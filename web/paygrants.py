"""What a pay link allows right now: its signature and expiry, its one use, its order's price.

The signature says what the link was issued for; the database says whether that still holds:
a link that paid its order once is used up (`sys_paylinkuse`, shared by every replica), a paid
order takes no second payment, and an order whose amount or currency changed since the link
was issued is not paid through it. The buyer's own session, when they sign in on the pay page,
must be the link's user.

The HMAC key is read on first use, so a deployment without pay links configured
(production without ORDERPAY_PAY_LINK_SECRET) still serves the chat; a pay link
then answers 503 instead of the whole app failing at start-up.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import Request

from payment_core.api.auth import current_session
from payment_core.errors import ServiceUnavailable
from payment_core.identity import Session
from payment_core.paylinks import PayGrant, PayLinkError, PayLinkUses, pay_link_secret, pay_link_use_table, verify_pay_token
from payment_core.payments.service import CheckoutSummary
from payment_core.runtime import Runtime
from payment_core.spec import PAYMENT_CONFIRMATION


class PayGrants:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._secret: bytes | None = None
        # One of the app's tables (the runtime registers it, so migrations create it).
        self.uses = PayLinkUses(runtime.db, pay_link_use_table(runtime.metadata))

    def _key(self) -> bytes:
        if self._secret is None:
            try:
                self._secret = pay_link_secret(self._runtime.settings)
            except (RuntimeError, ValueError) as exc:
                raise ServiceUnavailable(f"pay links are not configured on this server: {exc}") from None
        return self._secret

    def grant(self, token: str) -> PayGrant:
        """The grant of a valid token; `PayLinkError` when it is malformed, tampered with or expired."""
        return verify_pay_token(self._key(), token)

    async def buyer(self, grant: PayGrant, request: Request) -> Session | None:
        """The buyer's own session when the request carries one (signed in on the pay page), else
        None. A valid session of anyone but the link's user is refused."""
        if not request.headers.get("authorization"):
            return None
        session = await current_session(request)
        if session.user_id != grant.user_id:
            raise PayLinkError("other_user")
        return session

    async def summary(self, grant: PayGrant, session: Session) -> CheckoutSummary:
        """The order's price now, refused when it is not the price the link was issued for."""
        payments = self._runtime.payments
        order = await self._runtime.stores[grant.object_name].get(session, grant.order_id)
        summary = payments.summary_of(payments.order_payments(grant.object_name), order)
        grant.require_price(summary.amount_minor, summary.currency)
        return summary

    async def payable(self, grant: PayGrant, session: Session) -> CheckoutSummary:
        """Everything that must hold before money moves through this link: unused, the order
        unpaid, and its price the link's."""
        await self.uses.require_unused(grant)
        summary = await self.summary(grant, session)
        if await self.is_paid(grant, summary.order):
            raise PayLinkError("paid")
        await self.require_not_canceled(grant)
        return summary

    async def require_not_canceled(self, grant: PayGrant) -> None:
        """A link issued before its buyer cancelled the order's payment pays nothing any more."""
        canceled = await self._runtime.payments.after_sale.canceled_at(grant.object_name, grant.order_id)
        if canceled is not None:
            if grant.issued_at <= datetime.fromisoformat(str(canceled).replace("Z", "+00:00")).timestamp():
                raise PayLinkError("canceled")

    async def is_paid(self, grant: PayGrant, order: dict[str, Any]) -> bool:
        if order.get(PAYMENT_CONFIRMATION) == "paid":
            return True
        records = self._runtime.payments.order_payments(grant.object_name).records
        record = await records.get_by_query({"orderId": uuid.UUID(order["id"])})
        return record is not None and record["statusLiteral"] == "success"

    async def settle(self, grant: PayGrant, order: dict[str, Any]) -> None:
        """Once the link's order is seen paid, the link is used up."""
        if order.get(PAYMENT_CONFIRMATION) == "paid":
            await self.uses.record(grant)


def grant_session(grant: PayGrant) -> Session:
    """The buyer as the token names them: a plain user (no roles), so the grant never
    reaches further than that user's own records."""
    return Session(user_id=grant.user_id, email="", full_name="", roles=())
