"""Stripe, through the official SDK: the only module that talks to it.

The calls whose failures a caller acts on answer in outcomes, never SDK types:

- what Stripe made (`Intent` for create-and-confirm; the payment method for attach and retrieve);
- `Declined`: the card was declined (with the intent Stripe made for it, if any);
- `Refused`: Stripe refused the request outright (an `invalid_request_error`) and did nothing.

"Outcome unknown" (Stripe unreachable or failing) is raised, as `PaymentGatewayUnavailable`:
the caller keeps what it reserved for the call and recovers it later; a second request with the
same idempotency key while the first is in flight is a `Conflict`. The other calls answer Stripe's
object and raise a refusal as `StripeRefused` (400/404, nothing happened).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe

from payment_core import metrics
from payment_core.errors import BadInput, Conflict, PaymentGatewayUnavailable, PaymentRequired, StripeRefused

log = logging.getLogger("orderpay.stripe")


@dataclass(frozen=True)
class Intent:
    """Stripe made the payment intent; `data` is its state, to apply."""

    data: dict[str, Any]


@dataclass(frozen=True)
class Declined:
    """The card was declined; `intent` is the payment intent Stripe made for it, if any."""

    message: str
    code: str | None  # Stripe's error code: card_declined, incorrect_cvc, expired_card, ...
    decline_code: str | None  # the bank's reason: generic_decline, insufficient_funds, ... or None
    intent: dict[str, Any] | None

    def error(self, *, field: str | None = None) -> PaymentRequired:
        """As an error answer (402, Stripe's code as errCode): for a decline that ends the request."""
        declined = PaymentRequired(f"Stripe: {self.message}", field=field, details={"declineCode": self.decline_code})
        declined.code = self.code or declined.code
        return declined


@dataclass(frozen=True)
class Refused:
    """Stripe refused the request outright (an `invalid_request_error`): it did nothing, so nothing
    was charged and the caller may settle what it reserved for the call at once."""

    message: str
    stripe_code: str | None  # Stripe's error code: amount_too_small, resource_missing, ...
    param: str | None  # the request parameter Stripe names
    http_status: int

    @property
    def status(self) -> int:
        """The status orderpay answers it with: 404 for a missing object, else 400."""
        return 404 if self.http_status == 404 else 400

    @property
    def missing_customer(self) -> bool:
        """"No such customer": the customer belongs to another Stripe account (keys switched, sandbox reset)."""
        return self.stripe_code == "resource_missing" and self.param == "customer"

    @property
    def missing_object(self) -> bool:
        return self.stripe_code == "resource_missing"

    def error(self) -> StripeRefused:
        """As an error answer (`status`, Stripe's code as errCode)."""
        return StripeRefused(self.message, stripe_code=self.stripe_code, param=self.param, status=self.status)


class StripeGateway:
    def __init__(self, secret_key: str, publishable_key: str, *, api_base: str | None = None, timeout: float = 20.0) -> None:
        self.publishable_key = publishable_key
        self._http = stripe.HTTPXClient(timeout=timeout)
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=1,  # the SDK retries with the same idempotency key, which is safe
        )

    async def close(self) -> None:
        await self._http.close_async()

    async def create_customer(self, *, user_id: str, email: str, name: str, idempotency_key: str) -> str:
        params = {"metadata": {"orderpayUserId": user_id}}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        customer = await self._call(self.client.v1.customers.create_async(params, {"idempotency_key": idempotency_key}))
        return customer["id"]

    async def retrieve_payment_method(self, payment_method_id: str) -> dict[str, Any] | Refused:
        answer = await self._ask(self.client.v1.payment_methods.retrieve_async(payment_method_id))
        if isinstance(answer, Declined):  # a retrieve declines no card
            raise answer.error()
        return answer

    async def attach_payment_method(self, payment_method_id: str, customer_id: str) -> dict[str, Any] | Declined | Refused:
        """The payment method attached; or declined (Stripe checks the card when it is attached), or refused."""
        return await self._ask(self.client.v1.payment_methods.attach_async(payment_method_id, {"customer": customer_id}))

    async def detach_payment_method(self, payment_method_id: str) -> None:
        try:
            await self._call(self.client.v1.payment_methods.detach_async(payment_method_id))
        except BadInput as exc:
            # Already detached (or deleted) on Stripe's side: the local copy is removed all the same.
            log.info("payment method was not attached", extra={"paymentMethodId": payment_method_id, "reason": exc.message})

    async def create_and_confirm(self, params: dict[str, Any], *, idempotency_key: str) -> Intent | Declined | Refused:
        """Create and confirm a payment intent in one call. Raises only when the outcome is unknown
        (`PaymentGatewayUnavailable`) or the same key's call is still in flight (`Conflict`)."""
        answer = await self._ask(self.client.v1.payment_intents.create_async(
            {**params, "confirm": True}, {"idempotency_key": idempotency_key}))
        return Intent(answer) if isinstance(answer, dict) else answer

    async def retrieve_intent(self, intent_id: str) -> dict[str, Any]:
        return await self._call(self.client.v1.payment_intents.retrieve_async(intent_id))

    async def list_customer_intents(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's latest payment intents (Stripe's page of 100)."""
        page = await self._call(self.client.v1.payment_intents.list_async({"customer": customer_id, "limit": 100}))
        return list(page.get("data") or [])

    async def refund_intent(self, intent_id: str, *, reason: str, metadata: dict[str, str], amount: int | None = None,
                            idempotency_key: str | None = None) -> dict[str, Any]:
        """Refund an intent's charge: all of it, once per intent however often it is asked for; or, with
        `amount` and the key of one person's refund request, that part once per request."""
        params: dict[str, Any] = {"payment_intent": intent_id, "reason": reason, "metadata": metadata}
        if amount is not None:
            params["amount"] = amount
        return await self._call(self.client.v1.refunds.create_async(
            params, {"idempotency_key": idempotency_key or f"orderpay-refund-{intent_id}"}))

    async def list_refunds(self, intent_id: str) -> list[dict[str, Any]]:
        page = await self._call(self.client.v1.refunds.list_async({"payment_intent": intent_id, "limit": 100}))
        return list(page.get("data") or [])

    async def cancel_intent(self, intent_id: str) -> dict[str, Any]:
        """The intent cancelled; or, when it can no longer be (it moved on meanwhile: paid on its 3-D
        Secure page, cancelled already), as it is now."""
        try:
            answer = await self._ask(self.client.v1.payment_intents.cancel_async(intent_id))
        except Conflict:  # a request about it is in flight: its state decides
            answer = None
        if isinstance(answer, dict):
            return answer
        return await self.retrieve_intent(intent_id)

    async def _call(self, awaitable: Any) -> dict[str, Any]:
        """A call whose only useful answer is Stripe's object: a refusal or a decline is an error answer."""
        answer = await self._ask(awaitable)
        if isinstance(answer, (Declined, Refused)):
            raise answer.error()
        return answer

    async def _ask(self, awaitable: Any) -> dict[str, Any] | Declined | Refused:
        """One Stripe call: Stripe's object, `Declined` or `Refused`; raises when the outcome is unknown."""
        try:
            result = await metrics.stripe_call(_operation(awaitable), awaitable, outcome_of=lambda exc: type(exc).__name__)
        except stripe.CardError as exc:
            error = exc.error
            intent = getattr(error, "payment_intent", None) if error else None
            return Declined(
                message=exc.user_message or str(exc._message),
                code=exc.code,
                decline_code=getattr(error, "decline_code", None) if error else None,
                intent=intent.to_dict() if intent is not None else None,
            )
        except stripe.IdempotencyError as exc:
            raise Conflict(f"the same payment is already being processed ({exc._message})") from None
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 409:
                raise Conflict(f"the same payment is already being processed ({exc._message})") from None
            return Refused(f"Stripe: {exc._message}", stripe_code=exc.code, param=exc.param,
                           http_status=exc.http_status or 400)
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            log.error("Stripe refused orderpay's API key", extra={"reason": exc._message})
            raise PaymentGatewayUnavailable("the payment provider refused our credentials; try again later") from None
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            log.warning("Stripe unavailable", extra={"reason": str(exc._message), "status": exc.http_status})
            raise PaymentGatewayUnavailable("the payment provider is unavailable; nothing was charged twice, try again") from None
        return result.to_dict()


def _operation(awaitable: Any) -> str:
    """`PaymentIntent.create` for the SDK's `PaymentIntentService.create_async` coroutine: the metrics label."""
    name = getattr(awaitable, "__qualname__", "") or "unknown"
    return name.replace("Service.", ".").removesuffix("_async")
