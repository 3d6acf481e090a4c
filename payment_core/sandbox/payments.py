"""The payment intent state machine: confirmation, 3-D Secure, charges, delayed settlement, capture and cancel.

Every function here runs inside the caller's store transaction and records the events Stripe would send.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import disputes, errors, events, objects, payment_methods
from .cards import AUTHENTICATION_REQUIRED, Decline, TestCard

if TYPE_CHECKING:
    from .runtime import Origin, Sandbox

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action")

AUTHENTICATION_FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new "
    "PaymentMethod to attempt to fulfill this PaymentIntent again."
)
REDIRECT_NEEDS_RETURN_URL = (
    "This PaymentIntent is configured to accept payment methods enabled in your Dashboard, some of which may "
    "require a full page redirect to succeed. If you do not want to accept redirect-based payment methods, set "
    "`automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to `never` "
    "when creating Setup Intents and Payment Intents. If you do want to accept redirect-based payment methods, set "
    "the `return_url` parameter when confirming the PaymentIntent."
)


def get_intent(sandbox: Sandbox, intent_id: str, *, param: str = "intent") -> dict[str, Any]:
    intent = sandbox.store.get(intent_id)
    if intent is None or intent["object"] != "payment_intent":
        raise errors.no_such("payment_intent", intent_id, param=param)
    return intent


def _save(sandbox: Sandbox, intent: dict[str, Any], event_type: str | None, origin: Origin | None) -> dict[str, Any]:
    sandbox.store.put(intent)
    if event_type:
        events.emit(sandbox, event_type, intent, origin)
    return intent


def check_usable(sandbox: Sandbox, method: dict[str, Any], customer_id: str | None) -> None:
    """Stripe's rules on whose payment method may pay an intent."""
    if method["customer"] is not None and method["customer"] != customer_id:
        raise errors.invalid_request(
            f"The provided PaymentMethod belongs to Customer {method['customer']}, so the PaymentIntent must have "
            "that Customer as its `customer` to use it.",
            param="payment_method",
        )
    payment_methods.check_reusable(sandbox, method)


def confirm(
    sandbox: Sandbox,
    intent: dict[str, Any],
    *,
    payment_method: str | None,
    return_url: str | None,
    off_session: bool,
    use_stripe_sdk: bool,
    error_on_requires_action: bool,
    base_url: str,
    origin: Origin | None,
) -> dict[str, Any]:
    """Attempt the payment: succeed, decline (raises the 402 card error), ask for 3-D Secure, or start processing."""
    if intent["status"] not in CONFIRMABLE:
        raise errors.unexpected_state(
            f"You cannot confirm this PaymentIntent because it has a status of {intent['status']}. Only a PaymentIntent "
            "with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method, "
            "requires_action."
        )
    method_id = payment_method or intent["payment_method"]
    if method_id is None:
        raise errors.invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the "
            "PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a "
            "payment method.",
            code="payment_intent_unexpected_state",
        )
    automatic = intent["automatic_payment_methods"]
    if automatic and automatic.get("allow_redirects") != "never" and not return_url and not use_stripe_sdk:
        raise errors.invalid_request(REDIRECT_NEEDS_RETURN_URL)
    method = payment_methods.resolve(sandbox, method_id)
    check_usable(sandbox, method, intent["customer"])
    private = sandbox.store.get_private(intent["id"])
    sandbox.store.set_private(intent["id"], {**private, "return_url": return_url, "off_session": off_session})
    intent.update(payment_method=method["id"], last_payment_error=None, next_action=None)
    card = payment_methods.card_of(sandbox, method)
    if card.requires_authentication:
        if off_session or error_on_requires_action:
            return _charge(sandbox, intent, method, card, origin, decline=AUTHENTICATION_REQUIRED)
        intent.update(status="requires_action", next_action=_next_action(intent, base_url, return_url, use_stripe_sdk))
        return _save(sandbox, intent, "payment_intent.requires_action", origin)
    return _charge(sandbox, intent, method, card, origin)


def _next_action(intent: dict[str, Any], base_url: str, return_url: str | None, use_stripe_sdk: bool) -> dict[str, Any]:
    page = f"{base_url}/3d_secure/{intent['id']}?client_secret={quote(intent['client_secret'])}"
    if return_url and not use_stripe_sdk:
        return {"type": "redirect_to_url", "redirect_to_url": {"return_url": return_url, "url": page}}
    # What Stripe.js reads to open its challenge modal; the sandbox's challenge page serves both.
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": page + "&frame=1", "source": objects.new_id("src")},
    }


def finish_authentication(sandbox: Sandbox, intent_id: str, *, passed: bool) -> dict[str, Any]:
    """The outcome of the 3-D Secure challenge page; a no-op unless the intent is waiting for it."""
    intent = get_intent(sandbox, intent_id)
    if intent["status"] != "requires_action":
        return intent
    method = payment_methods.resolve(sandbox, intent["payment_method"])
    intent["next_action"] = None
    if not passed:
        intent.update(
            status="requires_payment_method",
            payment_method=None,
            last_payment_error={
                "code": "payment_intent_authentication_failure",
                "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
                "message": AUTHENTICATION_FAILED,
                "payment_method": method,
                "type": "invalid_request_error",
            },
        )
        return _save(sandbox, intent, "payment_intent.payment_failed", None)
    three_d_secure = {
        "authentication_flow": "challenge",
        "electronic_commerce_indicator": "05",
        "exemption_indicator": None,
        "result": "authenticated",
        "result_reason": None,
        "transaction_id": str(uuid.uuid4()),
        "version": "2.2.0",
    }
    card = payment_methods.card_of(sandbox, method)
    try:
        return _charge(sandbox, intent, method, card, None, three_d_secure=three_d_secure)
    except errors.StripeError as exc:
        if not exc.recorded:
            raise
        return get_intent(sandbox, intent_id)


def _charge(
    sandbox: Sandbox,
    intent: dict[str, Any],
    method: dict[str, Any],
    card: TestCard,
    origin: Origin | None,
    *,
    decline: Decline | None = None,
    three_d_secure: dict[str, Any] | None = None,
) -> dict[str, Any]:
    decline = decline or card.decline
    if decline is not None:
        payment_methods.mark_used(sandbox, method)
        raise _decline(sandbox, intent, method, decline, three_d_secure, origin)
    capture = intent["capture_method"] != "manual"
    pending = card.settles_later
    charge = objects.charge(
        intent,
        method,
        status="pending" if pending else "succeeded",
        captured=capture,
        outcome=objects.outcome(approved=True),
        three_d_secure=three_d_secure,
    )
    sandbox.store.put(charge)
    intent["latest_charge"] = charge["id"]
    _attach_for_future_usage(sandbox, intent, method, origin)
    payment_methods.mark_used(sandbox, method)
    if pending:
        intent.update(status="processing", processing={"card": {"customer_notification": None}, "type": "card"})
        sandbox.store.add_job("settle", {"payment_intent": intent["id"]}, time.time() + sandbox.config.processing_delay)
        events.emit(sandbox, "charge.pending", charge, origin)
        return _save(sandbox, intent, "payment_intent.processing", origin)
    events.emit(sandbox, "charge.succeeded", charge, origin)
    if card.disputed and capture:
        disputes.schedule(sandbox, charge["id"])
    return _save(sandbox, intent, _succeeded(intent, capture), origin)


def _succeeded(intent: dict[str, Any], captured: bool) -> str:
    """Move an intent whose charge went through to succeeded (or requires_capture); returns the event type."""
    intent["processing"] = None
    if captured:
        intent.update(status="succeeded", amount_received=intent["amount"])
        return "payment_intent.succeeded"
    intent.update(status="requires_capture", amount_capturable=intent["amount"])
    return "payment_intent.amount_capturable_updated"


def _attach_for_future_usage(sandbox: Sandbox, intent: dict[str, Any], method: dict[str, Any], origin: Origin | None) -> None:
    # Stripe attaches the payment method to the customer on success when asked to keep it.
    if intent["setup_future_usage"] and intent["customer"] and method["customer"] is None:
        method.update(payment_methods.attach(sandbox, method, intent["customer"], origin))


def _decline(
    sandbox: Sandbox,
    intent: dict[str, Any],
    method: dict[str, Any],
    decline: Decline,
    three_d_secure: dict[str, Any] | None,
    origin: Origin | None,
) -> errors.StripeError:
    charge = objects.charge(
        intent,
        method,
        status="failed",
        captured=False,
        outcome=objects.outcome(approved=False, decline_code=decline.decline_code),
        failure_code=decline.code,
        failure_message=decline.message,
        three_d_secure=three_d_secure,
    )
    sandbox.store.put(charge)
    error = errors.card_error(
        decline.message, code=decline.code, decline_code=decline.decline_code, param=decline.param, recorded=True
    )
    last_error = {**error.body()["error"], "charge": charge["id"], "payment_method": method}
    intent.update(status="requires_payment_method", payment_method=None, latest_charge=charge["id"], last_payment_error=last_error)
    events.emit(sandbox, "charge.failed", charge, origin)
    _save(sandbox, intent, "payment_intent.payment_failed", origin)
    error.extra = {"charge": charge["id"], "payment_intent": intent, "payment_method": method}
    return error


def settle(sandbox: Sandbox, intent_id: str) -> None:
    """Finish a `processing` payment, as the card network eventually does; background job."""
    with sandbox.store.transaction():
        intent = sandbox.store.get(intent_id)
        if intent is None or intent["status"] != "processing":
            return  # reset, or canceled meanwhile
        charge = sandbox.store.get(intent["latest_charge"])
        assert charge is not None
        captured = intent["capture_method"] != "manual"
        charge.update(status="succeeded", paid=True, captured=captured, amount_captured=charge["amount"] if captured else 0)
        sandbox.store.put(charge)
        events.emit(sandbox, "charge.succeeded", charge, None)
        _save(sandbox, intent, _succeeded(intent, captured), None)


def capture(sandbox: Sandbox, intent: dict[str, Any], amount: int | None, origin: Origin | None) -> dict[str, Any]:
    if intent["status"] != "requires_capture":
        raise errors.unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of {intent['status']}. Only a "
            "PaymentIntent with one of the following statuses may be captured: requires_capture."
        )
    amount = intent["amount_capturable"] if amount is None else amount
    if amount > intent["amount_capturable"]:
        raise errors.invalid_param(
            "amount_to_capture",
            f"The amount_to_capture ({amount}) must be less than or equal to the amount_capturable "
            f"({intent['amount_capturable']}) of this PaymentIntent.",
        )
    charge = sandbox.store.get(intent["latest_charge"])
    assert charge is not None
    # The uncaptured remainder is released, which Stripe reports as refunded.
    charge.update(captured=True, amount_captured=amount, amount_refunded=charge["amount"] - amount)
    sandbox.store.put(charge)
    events.emit(sandbox, "charge.captured", charge, origin)
    if payment_methods.card_of(sandbox, payment_methods.resolve(sandbox, charge["payment_method"])).disputed:
        disputes.schedule(sandbox, charge["id"])
    intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
    return _save(sandbox, intent, "payment_intent.succeeded", origin)


def cancel(sandbox: Sandbox, intent: dict[str, Any], reason: str | None, origin: Origin | None) -> dict[str, Any]:
    if intent["status"] not in CANCELABLE:
        raise errors.unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a PaymentIntent "
            f"with one of the following statuses may be canceled: {', '.join(CANCELABLE)}."
        )
    if intent["status"] == "requires_capture":
        charge = sandbox.store.get(intent["latest_charge"])
        assert charge is not None
        charge.update(amount_refunded=charge["amount"], refunded=True)
        sandbox.store.put(charge)
        events.emit(sandbox, "charge.refunded", charge, origin)
    intent.update(
        status="canceled",
        canceled_at=objects.now(),
        cancellation_reason=reason,
        next_action=None,
        amount_capturable=0,
    )
    return _save(sandbox, intent, "payment_intent.canceled", origin)
