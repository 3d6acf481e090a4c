"""Payment attempts: start payment, and the attempts it makes at Stripe (seed 002's one-step pay).

An attempt is claimed — its number and idempotency key committed on the payment record, with the
order's terms re-checked under its lock — before Stripe is called: a retry, a double click or a
second replica finds the claim and never makes a second charge. An attempt whose answer never
came is resolved from Stripe's truth (`resolve_attempt`: its intent looked up by metadata), and
an abandoned 3-D Secure intent is cancelled before a new attempt starts.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.exc import IntegrityError

from payment_core.clock import utcnow
from payment_core.contract import intent_metadata, payment_error
from payment_core.errors import BadInput, Conflict, NotFound, OrderPayError
from payment_core.events import insert_events
from payment_core.identity import Session
from payment_core.payments.cards import SavedCards, stripe_id, usable
from payment_core.payments.checkout import CheckoutSummary, parse_quote, quote_matches, stale_quote, summary_of
from payment_core.payments.flow import Flow, OrderPayments, PaymentOutcome
from payment_core.payments.gateway import Declined, Intent, Refused
from payment_core.payments.throttle import Throttle
from payment_core.payments.transitions import Transitions
from payment_core.spec import PAYMENT_CONFIRMATION


@dataclass(frozen=True)
class Click:
    """The buyer's Pay click, as the order's audit trail records it (`pay_clicked`)."""

    user_agent: str | None
    ip: str | None
    via: str = "api"  # or pay_link

    def entry(self, session: Session) -> dict[str, Any]:
        return {"by": session.user_id, "email": session.email or None, "name": session.full_name or None,
                "sessionId": session.session_id, "userAgent": (self.user_agent or "")[:300], "ip": self.ip,
                "via": self.via}


@dataclass(frozen=True)
class _Ask:
    """What a start payment asks for: the order, its parameters, the card if already known (a card
    typed for this payment), the click; and, once the first pass has read them, the order's terms
    and the card (`_Pass.summary`, `_Pass.method`)."""

    order_id: str
    user_params: dict[str, Any]
    click: Click | None
    method: dict[str, Any] | None = None
    summary: CheckoutSummary | None = None


@dataclass(frozen=True)
class _Pass:
    """One pass of the claim: the claimed attempt; an unfinished one Stripe must be asked about
    first; why the claim is refused (raised once the pass has committed its count); a card not
    saved (looked up at Stripe before the next pass); or nothing (the record changed under it:
    decide again). With the terms and the card the pass paid with."""

    summary: CheckoutSummary | None = None
    method: dict[str, Any] | None = None
    claimed: dict[str, Any] | None = None
    unfinished: dict[str, Any] | None = None
    refusal: Exception | None = None
    card_not_saved: bool = False


@dataclass(frozen=True)
class _Claimed:
    summary: CheckoutSummary
    method: dict[str, Any]
    record: dict[str, Any]


class _Undo(Exception):
    """The claim is refused after its writes: its whole pass is rolled back, and the attempt and
    the click are then kept in a transaction of their own before `refusal` is raised."""

    def __init__(self, refusal: OrderPayError, summary: CheckoutSummary) -> None:
        super().__init__(refusal.message)
        self.refusal, self.summary = refusal, summary


class Attempts:
    def __init__(self, flow: Flow, cards: SavedCards, transitions: Transitions, throttle: Throttle, *,
                 stale_attempt_seconds: float) -> None:
        self.flow, self.cards, self.transitions, self.throttle = flow, cards, transitions, throttle
        # After this long, an attempt still marked `calling` cannot have its Stripe call in flight any more.
        self.stale_attempt_seconds = stale_attempt_seconds

    async def start_payment(self, session: Session, object_name: str, order_id: str, params: Any, *,
                            one_off_card: bool = False, click: Click | None = None) -> PaymentOutcome:
        """Create and confirm the PaymentIntent with the buyer's saved card, in one step (seed 002).

        With `paymentUserParams.quote` (what the payment card showed) the payment is bound to it: a
        quote that is not the order's current one is a 409 carrying the current quote. Without one
        (the seeds' frontends) the order's current amount is paid.

        `one_off_card`: pay with a card typed for this payment instead (a pay link opened without
        the buyer's session): never one of their saved cards, and never saved.

        `click`: the Pay click that asked for it, recorded in the order's audit trail (`pay_clicked`)
        in the claim's transaction, once the attempt is counted by the card-testing throttle.
        """
        user_params = _payment_user_params(params)
        payments = self.flow.order_payments(object_name)
        # A card typed on a pay link's page is looked up at Stripe first, outside any transaction.
        method = await self.cards.one_off_card(session, user_params["paymentMethodId"]) if one_off_card else None
        claimed = await self._claim_attempt(payments, session, _Ask(order_id, user_params, click, method))
        if isinstance(claimed, PaymentOutcome):  # the unfinished attempt it found had reached Stripe
            return claimed
        summary, method, record = claimed.summary, claimed.method, claimed.record
        intent_params = {
            "amount": summary.amount_minor, "currency": summary.currency.lower(), "customer": method["customerId"],
            "payment_method": method["paymentMethodId"], "description": summary.description[:1000],
            "payment_method_types": ["card"],
            "metadata": {
                **intent_metadata(payments.service_name, payments.name, summary.order_id, payments.store.obj.order.orderName),
                # orderpay's own: which attempt of which app made it (resolve_attempt finds a lost answer by them)
                "orderpayApp": self.flow.app.codename, "orderpayObject": payments.name,
                "orderpayAttempt": str(record["attempt"]),
            },
        }
        if user_params.get("return_url"):
            intent_params["return_url"] = user_params["return_url"]
        match await self.flow.gateway.create_and_confirm(intent_params, idempotency_key=record["idempotencyKey"]):
            case Intent(intent):
                return await self.transitions.apply(payments, intent, "started", user_params=user_params,
                                                    session=session, attempt=record["attempt"])
            case Declined(intent=dict() as intent) as declined:  # Stripe made the intent: applied like any state
                outcome = await self.transitions.apply(payments, intent, "started", user_params=user_params,
                                                       session=session, attempt=record["attempt"])
                return PaymentOutcome(outcome.order, _payment_error(declined))
            case Declined() as declined:
                await self._settle_unanswered(payments, record, {"code": declined.code, "decline_code": declined.decline_code,
                                                                 "message": declined.message, "type": "card_error"})
                return PaymentOutcome(await payments.store.get(session, order_id), _payment_error(declined))
            case Refused() as refused:
                # Stripe refused the call itself (an amount below its minimum, a detached card, a customer of
                # another account): it did nothing, so the attempt is over and another card may pay at once.
                await self._settle_unanswered(payments, record, {"code": refused.stripe_code, "message": refused.message,
                                                                 "type": "invalid_request_error"})
                message = refused.message
                if refused.missing_customer:
                    await self.cards.replace_customer(session, method["customerId"])
                    message = "this card was saved with another Stripe account; add it again"
                elif refused.param == "payment_method" and "id" in method and not await self.cards.still_chargeable(method):
                    await self.cards.mark_unusable(method)
                    message = "this card was removed at Stripe (e.g. in its dashboard); add it again"
                return PaymentOutcome(await payments.store.get(session, order_id), _refusal_error(refused, message))

    async def _settle_unanswered(self, payments: OrderPayments, record: dict[str, Any], error: dict[str, Any]) -> None:
        """End an attempt Stripe answered without an intent: nothing was charged, the order is unchanged."""
        await payments.records.update_by_query(
            {"id": uuid.UUID(record["id"]), "attempt": record["attempt"], "attemptState": "calling"},
            {"attemptState": "settled", "statusLiteral": "failed", "lastError": error})

    async def _claim_attempt(self, payments: OrderPayments, session: Session, ask: _Ask) -> _Claimed | PaymentOutcome:
        """Reserve the payment attempt and its idempotency key before calling Stripe.

        Each pass is one transaction (`Database.write`). The first reads the order and the saved
        card, checks what the buyer is paying (a refusal here writes nothing), counts the attempt in
        the card-testing throttle and records the buyer's click. The claim holds the order's lock and
        re-reads it, so an order changed meanwhile is a stale quote, and a change of its payment-bound
        fields waits for (and then sees) the claim. A claim refused after its writes rolls its pass
        back, and the count and the click are then kept in a transaction of their own: a refused
        attempt still counts. An unfinished attempt is first looked up at Stripe by its metadata,
        outside any transaction: if Stripe made its intent, that is applied and answered (no second
        charge, even after Stripe forgot the idempotency key); if not, a retry with the same card
        reuses the key, and a new card waits until the old call can no longer be in flight. A card
        that is not saved is looked up at Stripe between passes, never inside one.
        """
        counted = False
        for _ in range(6):
            try:
                step = await self.flow.db.write(
                    lambda conn, count=not counted: self._claim_pass(conn, payments, session, ask, count=count))
            except IntegrityError:
                continue  # the record was created by a concurrent click (nothing of this pass kept): decide again
            except _Undo as undo:
                if not counted:
                    await self.flow.db.write(lambda conn: self._count_click(conn, payments, session, undo.summary, ask.click))
                raise undo.refusal from None
            if step.card_not_saved:  # a card typed for this payment and not saved (the checkout's choice)
                method = await self.cards.one_off_card(session, ask.user_params["paymentMethodId"])
                ask = _Ask(ask.order_id, ask.user_params, ask.click, method)
                continue
            counted = True
            summary, method = step.summary, step.method
            assert summary is not None and method is not None
            ask = _Ask(ask.order_id, ask.user_params, ask.click, method, summary)
            if step.refusal is not None:
                raise step.refusal
            if step.claimed is not None:
                return _Claimed(summary, method, step.claimed)
            record = step.unfinished
            if record is None:
                continue  # the record changed under this pass (a concurrent click): decide again
            if record["attemptState"] == "calling":
                state, outcome = await self.resolve_attempt(payments, record)
                if outcome is not None:
                    return outcome
                if state == "settled":
                    continue
                same = (record["paymentMethodId"], record["amount"], record["currency"]) == (
                    method["paymentMethodId"], summary.amount_minor, summary.currency)
                if same and not record["paymentId"]:
                    return _Claimed(summary, method, record)  # the same attempt again, never made at Stripe: same key
                raise Conflict("the previous payment attempt is still being confirmed; try again in a moment")
            # An unfinished 3-D Secure attempt must not be completable once a new one starts.
            await self.cancel_abandoned(payments, record["paymentId"])
        raise Conflict("this order's payment is changing right now; try again")

    def _claim_pass(self, conn: Connection, payments: OrderPayments, session: Session, ask: _Ask, *,
                    count: bool) -> _Pass:
        """One pass of the claim, in the caller's transaction (see `_claim_attempt`). `count`: this
        pass counts the attempt and records the click (no earlier pass has kept them)."""
        summary, method = ask.summary, ask.method
        if summary is None:  # the first pass: what is paid, with what
            order = payments.store.read(conn, session, ask.order_id)
            if order.get(payments.store.obj.owner_property) != session.user_id and not session.is_super_admin:
                raise NotFound()
            if method is None:
                method = self.flow.methods.first(conn, {"paymentMethodId": ask.user_params["paymentMethodId"],
                                                        "userId": uuid.UUID(session.user_id)})
                if method is None:
                    return _Pass(card_not_saved=True)
            if not usable(method):
                raise BadInput("paymentMethodId: this card can no longer pay (removed at Stripe, or saved with another "
                               "Stripe account); add it again",
                               field="paymentMethodId")
            summary = summary_of(payments, order)
            quote = ask.user_params.get("quote")
            if quote is not None and not quote_matches(quote, summary):
                raise stale_quote(summary)
        if count and not self.throttle.count(conn, session.user_id, "payment"):
            return _Pass(summary, method, refusal=self.throttle.refusal(session.user_id, "payment"))  # counted only
        try:
            step = self._claim(conn, payments, session, summary, method, ask.user_params)
        except OrderPayError as refusal:  # decided before any write of the claim: the count and the click stay
            step = _Pass(summary, method, refusal=refusal)
        if count:
            # The claim holds the order's lock; without a claim the entry takes it itself.
            self._record_click(conn, payments, session, summary, ask.click, locked=step.claimed is not None)
        return step

    def _count_click(self, conn: Connection, payments: OrderPayments, session: Session, summary: CheckoutSummary,
                     click: Click | None) -> None:
        """Count an attempt whose claim was refused after its writes (rolled back), and record its click."""
        self.throttle.count(conn, session.user_id, "payment")
        self._record_click(conn, payments, session, summary, click, locked=False)

    def _record_click(self, conn: Connection, payments: OrderPayments, session: Session, summary: CheckoutSummary,
                      click: Click | None, *, locked: bool) -> None:
        """The buyer's Pay click in the order's audit trail: a step of the owner's payment only."""
        if click is not None and summary.order.get(payments.store.obj.owner_property) == session.user_id:
            self.flow.audit.add(conn, payments.name, summary.order["id"], "pay_clicked", click.entry(session),
                                lock=None if locked else payments.store.lock_row_by_id)

    def _claim(self, conn: Connection, payments: OrderPayments, session: Session, summary: CheckoutSummary,
               method: dict[str, Any], user_params: dict[str, Any]) -> _Pass:
        """Claim the next attempt on the payment record, or say why not: raising OrderPayError
        before any write, `_Undo` after (its pass is rolled back)."""
        order_uuid = uuid.UUID(summary.order["id"])

        def claim(attempt: int) -> dict[str, Any]:
            return {
                "attempt": attempt, "attemptState": "calling", "paymentId": None, "stage": 0,
                "paymentStatus": "requires_payment_method", "statusLiteral": "started",
                "idempotencyKey": f"orderpay-{self.flow.app.codename}-{payments.name}-{order_uuid}-{attempt}",
                "paymentMethodId": method["paymentMethodId"], "amount": summary.amount_minor,
                "currency": summary.currency, "redirectUrl": user_params.get("return_url"), "lastError": None,
                "isActive": True,
            }

        # A record deleted through the records API is brought back, not duplicated.
        record = payments.records.first(conn, {"orderId": order_uuid}, include_inactive=True)
        if record is None:  # the first attempt creates the record already claimed
            user = uuid.UUID(session.user_id)
            created = payments.records.add(conn, {"orderId": order_uuid, "ownerId": user, "_owner": user, **claim(1)})
            self._lock_terms(conn, payments, summary)
            return _Pass(summary, method, claimed=created)
        if record["statusLiteral"] == "success" or summary.order.get(PAYMENT_CONFIRMATION) == "paid":
            raise Conflict("this order is already paid")
        if record["paymentStatus"] in ("processing", "requires_capture"):
            raise Conflict("a payment for this order is already processing")
        if record["attemptState"] == "calling" or (record["paymentStatus"] == "requires_action" and record["paymentId"]):
            return _Pass(summary, method, unfinished=record)  # Stripe is asked about it first, outside the transaction
        statement, where = payments.records.update_where(
            {"id": uuid.UUID(record["id"]), "recordVersion": record["recordVersion"]})
        row = conn.execute(statement, {**claim(record["attempt"] + 1), "updatedAt": utcnow(), **where}).first()
        if row is None:
            return _Pass(summary, method)  # changed meanwhile: read it again
        self._lock_terms(conn, payments, summary)
        claimed = payments.records.to_api(row)
        insert_events(conn, self.flow.outbox, [(f"{payments.records.topic}-updated", {"record": claimed}, claimed["id"])])
        return _Pass(summary, method, claimed=claimed)

    def _lock_terms(self, conn: Connection, payments: OrderPayments, summary: CheckoutSummary) -> None:
        """Lock the order for the claim and check it still has the terms the buyer is paying; raising
        (`_Undo`) rolls the claim's pass back. Called after the claim's write to the payment record: record, then
        order, the order in which transitions lock them too (no deadlock between the two)."""
        row = conn.execute(payments.store.lock_row_by_id, {"row_id": uuid.UUID(summary.order["id"])}).first()
        if row is None or not row.isActive:
            raise _Undo(NotFound(), summary)
        order = payments.store.to_api(row)
        if order.get(PAYMENT_CONFIRMATION) == "paid":
            raise _Undo(Conflict("this order is already paid"), summary)
        current = summary_of(payments, order)
        if not current.same_terms(summary):
            raise _Undo(stale_quote(current), summary)

    async def _attempt_customer(self, record: dict[str, Any]) -> str | None:
        """The Stripe customer an attempt charged: its card's (deleted cards included)."""
        if record.get("paymentMethodId"):
            card = await self.flow.methods.get_by_query({"paymentMethodId": record["paymentMethodId"]}, include_inactive=True)
            if card is not None:
                return card["customerId"]
        if record.get("ownerId"):
            customer = await self.flow.customers.get_by_query({"userId": uuid.UUID(record["ownerId"])})
            if customer is not None:
                return customer["customerId"]
        return None

    async def _find_attempt_intent(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The intent Stripe made for this attempt, found by the metadata orderpay gave it (the
        customer's latest 100 intents), or None when Stripe made none."""
        customer_id = await self._attempt_customer(record)
        if customer_id is None:
            return None
        for intent in await self.flow.gateway.list_customer_intents(customer_id):
            metadata = intent.get("metadata") or {}
            if (metadata.get("orderpayApp") == self.flow.app.codename and metadata.get("orderId") == record["orderId"]
                    and metadata.get("orderpayAttempt") == str(record["attempt"])):
                return intent
        return None

    async def resolve_attempt(self, payments: OrderPayments, record: dict[str, Any], *,
                               age: float | None = None) -> tuple[str, PaymentOutcome | None]:
        """Apply Stripe's truth to an attempt whose answer never came (a timeout, a process gone):

        - ("applied", outcome): Stripe made its intent; it is applied (charged at most once);
        - ("settled", None): Stripe made none and the call can no longer be in flight: nothing happened;
        - ("pending", None): Stripe made none yet, but the call may still be on its way.
        """
        intent = await self._find_attempt_intent(record)
        if intent is not None:
            return "applied", await self.transitions.apply(payments, intent, "refreshed", attempt=record["attempt"])
        if age is None:
            age = (utcnow() - datetime.fromisoformat(record["updatedAt"].replace("Z", "+00:00"))).total_seconds()
        if age < self.stale_attempt_seconds:
            return "pending", None
        settle = update(payments.table).where(  # never reached Stripe: the attempt is over
            payments.table.c.id == uuid.UUID(record["id"]),
            payments.table.c.recordVersion == record["recordVersion"],
        ).values(attemptState="settled", updatedAt=utcnow(), recordVersion=payments.table.c.recordVersion + 1)
        await self.flow.db.write(lambda conn: conn.execute(settle))
        return "settled", None

    async def cancel_abandoned(self, payments: OrderPayments, intent_id: str) -> None:
        """Cancel the intent of an attempt left at 3-D Secure, so its page can no longer complete it
        once a new attempt starts (the buyer's own cancel is `cancel.py`)."""
        await self.transitions.apply(payments, await self.flow.gateway.cancel_intent(intent_id), "refreshed")


def _payment_user_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise BadInput("paymentUserParams: must be an object with paymentMethodId", field="paymentUserParams")
    unknown = sorted(set(params) - {"paymentMethodId", "return_url", "storeCard", "quote"})
    if unknown:
        raise BadInput(f"paymentUserParams.{unknown[0]}: is not a payment parameter", field=f"paymentUserParams.{unknown[0]}")
    pm = stripe_id(params.get("paymentMethodId"), "pm_", "paymentUserParams.paymentMethodId")
    result: dict[str, Any] = {"paymentMethodId": pm}
    return_url = params.get("return_url")
    if return_url is not None:
        if not isinstance(return_url, str) or not return_url.startswith(("http://", "https://")) or len(return_url) > 2000:
            raise BadInput("paymentUserParams.return_url: must be an http(s) URL", field="paymentUserParams.return_url")
        result["return_url"] = return_url
    if params.get("quote") is not None:
        result["quote"] = parse_quote(params["quote"])
    return result


def _payment_error(declined: Declined) -> dict[str, Any]:
    """A declined card, as the seeds' payment error (status 500, as the seeds have it)."""
    return payment_error(500, declined.message, code=declined.code or "card_declined",
                         decline_code=declined.decline_code, intent=declined.intent)


def _refusal_error(refused: Refused, message: str) -> dict[str, Any]:
    """A request Stripe refused outright, as the seeds' payment error: nothing was charged."""
    return payment_error(refused.status, message, code=refused.stripe_code or "stripe_refused")
