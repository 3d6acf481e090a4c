"""Stripe, through the official SDK: the only module that talks to it.

Every Stripe failure becomes one of orderpay's outcomes here, so callers deal with
"declined" (`CardDeclined`), "refused, nothing happened" (`StripeRefused`), "conflict"
and "outcome unknown" (`PaymentGatewayUnavailable`) — never SDK types.
"""
from __future__ import annotations

import logging
from typing import Any

import stripe

from payment_core import metrics
from payment_core.errors import BadInput, CardDeclined, Conflict, PaymentGatewayUnavailable, StripeRefused

log = logging.getLogger("orderpay.stripe")


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

    async def retrieve_payment_method(self, payment_method_id: str) -> dict[str, Any]:
        return await self._call(self.client.v1.payment_methods.retrieve_async(payment_method_id))

    async def attach_payment_method(self, payment_method_id: str, customer_id: str) -> dict[str, Any]:
        return await self._call(
            self.client.v1.payment_methods.attach_async(payment_method_id, {"customer": customer_id})
        )

    async def detach_payment_method(self, payment_method_id: str) -> None:
        try:
            await self._call(self.client.v1.payment_methods.detach_async(payment_method_id))
        except BadInput as exc:
            # Already detached (or deleted) on Stripe's side: the local copy is removed all the same.
            log.info("payment method was not attached", extra={"paymentMethodId": payment_method_id, "reason": exc.message})

    async def create_and_confirm(self, params: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return await self._call(
            self.client.v1.payment_intents.create_async({**params, "confirm": True}, {"idempotency_key": idempotency_key})
        )

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
        return await self._call(self.client.v1.payment_intents.cancel_async(intent_id))

    async def _call(self, awaitable: Any) -> dict[str, Any]:
        try:
            result = await metrics.stripe_call(_operation(awaitable), awaitable, outcome_of=lambda exc: type(exc).__name__)
        except stripe.CardError as exc:
            error = exc.error
            intent = getattr(error, "payment_intent", None) if error else None
            raise CardDeclined(
                message=exc.user_message or str(exc._message),
                code=exc.code,
                decline_code=getattr(error, "decline_code", None) if error else None,
                intent=intent.to_dict() if intent is not None else None,
            ) from None
        except stripe.IdempotencyError as exc:
            raise Conflict(f"the same payment is already being processed ({exc._message})") from None
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 409:
                raise Conflict(f"the same payment is already being processed ({exc._message})") from None
            raise StripeRefused(f"Stripe: {exc._message}", stripe_code=exc.code, param=exc.param,
                                http_status=exc.http_status or 400) from None
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
