"""/v1/payment_intents handlers: parameters in, state machine (payments.py) out."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from . import errors, events, objects, payment_methods, payments
from .params import (
    check_allowed,
    get_bool,
    get_dict,
    get_enum,
    get_int,
    get_str,
    updated_metadata,
)

if TYPE_CHECKING:
    from .api import ApiRequest

CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
SETUP_FUTURE_USAGE = ("on_session", "off_session")
# Smallest chargeable amounts Stripe documents (in minor units); other currencies use 50.
MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50, "dkk": 250, "sek": 300, "nok": 300}
MAXIMUM_AMOUNT = 99_999_999

_CREATE = (
    "amount", "currency", "customer", "payment_method", "payment_method_types", "automatic_payment_methods", "confirm",
    "capture_method", "description", "metadata", "off_session", "return_url", "receipt_email", "setup_future_usage",
    "statement_descriptor", "error_on_requires_action", "use_stripe_sdk",
)  # fmt: skip
_CONFIRM = (
    "payment_method", "return_url", "off_session", "use_stripe_sdk", "client_secret", "error_on_requires_action",
    "receipt_email", "setup_future_usage",
)  # fmt: skip


def _amount(params: dict[str, Any], currency: str, *, required: bool) -> int | None:
    amount = get_int(params, "amount", required=required)
    if amount is None:
        return None
    minimum = MINIMUM_AMOUNTS.get(currency, 50)
    if amount < minimum:
        raise errors.invalid_request(f"Amount must be at least {minimum} {currency}", param="amount", code="amount_too_small")
    if amount > MAXIMUM_AMOUNT:
        raise errors.invalid_request(f"Amount must be no more than {MAXIMUM_AMOUNT} {currency}", param="amount", code="amount_too_large")
    return amount


def _currency(params: dict[str, Any], *, required: bool) -> str | None:
    currency = get_str(params, "currency", required=required)
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise errors.invalid_param("currency", f"Invalid currency: {currency}.")
    return currency.lower() if currency else None


def _customer(req: ApiRequest) -> str | None:
    customer_id = get_str(req.params, "customer")
    if customer_id is not None:
        customer = req.store.get(customer_id)
        if customer is None or customer["object"] != "customer":
            raise errors.no_such("customer", customer_id, param="customer")
    return customer_id


def _payment_method_types(req: ApiRequest) -> tuple[list[str], dict[str, Any] | None]:
    """Explicit `payment_method_types`, else Stripe's default of automatic payment methods (with redirects)."""
    types = req.params.get("payment_method_types")
    automatic = get_dict(req.params, "automatic_payment_methods", ("enabled", "allow_redirects"))
    if types is not None and automatic is not None:
        raise errors.invalid_request(
            "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
            param="payment_method_types",
        )
    if types is not None:
        types = [types] if isinstance(types, str) else list(types)
        for index, name in enumerate(types):
            if name != "card":
                raise errors.invalid_param(
                    f"payment_method_types[{index}]",
                    f"The payment method type {name!r} is invalid. The sandbox supports only card payments.",
                )
        return types, None
    allow_redirects = get_enum(automatic or {}, "allow_redirects", ("always", "never")) or "always"
    return ["card"], {"allow_redirects": allow_redirects, "enabled": True}


def _check_client_secret(req: ApiRequest, intent: dict[str, Any]) -> None:
    """A publishable key may act on an intent only with its client secret, as with Stripe.js."""
    secret = get_str(req.params, "client_secret")
    if secret is None:
        if req.caller.publishable:
            raise errors.missing_param("client_secret")
        return
    if not hmac.compare_digest(secret, intent["client_secret"]):
        raise errors.invalid_param(
            "client_secret",
            "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
        )


def _view(req: ApiRequest, intent: dict[str, Any]) -> dict[str, Any]:
    return objects.publishable_view(intent) if req.caller.publishable else intent


def _confirm(req: ApiRequest, intent: dict[str, Any]) -> dict[str, Any]:
    try:
        intent = payments.confirm(
            req.sandbox,
            intent,
            payment_method=get_str(req.params, "payment_method"),
            return_url=get_str(req.params, "return_url"),
            off_session=bool(get_bool(req.params, "off_session")),
            use_stripe_sdk=bool(get_bool(req.params, "use_stripe_sdk")),
            error_on_requires_action=bool(get_bool(req.params, "error_on_requires_action")),
            base_url=req.base_url,
            origin=req.origin,
        )
    except errors.StripeError as exc:
        if "payment_intent" in exc.extra:
            exc.extra["payment_intent"] = _view(req, exc.extra["payment_intent"])
        raise
    return _view(req, intent)


def create(req: ApiRequest) -> dict[str, Any]:
    params = req.params
    check_allowed(params, _CREATE)
    currency = _currency(params, required=True)
    assert currency is not None
    amount = _amount(params, currency, required=True)
    assert amount is not None
    confirm = bool(get_bool(params, "confirm"))
    for only_when_confirming in ("off_session", "return_url", "error_on_requires_action"):
        if params.get(only_when_confirming) not in (None, "", "false") and not confirm:
            raise errors.invalid_param(
                only_when_confirming, f"You may only specify `{only_when_confirming}` when `confirm` is true."
            )
    types, automatic = _payment_method_types(req)
    intent = objects.payment_intent(
        amount=amount,
        currency=currency,
        customer=_customer(req),
        description=get_str(params, "description"),
        metadata=updated_metadata(params, {}),
        capture_method=get_enum(params, "capture_method", CAPTURE_METHODS) or "automatic_async",
        payment_method_types=types,
        automatic_payment_methods=automatic,
        receipt_email=get_str(params, "receipt_email"),
        setup_future_usage=get_enum(params, "setup_future_usage", SETUP_FUTURE_USAGE),
        statement_descriptor=get_str(params, "statement_descriptor", max_length=22),
    )
    if method_id := get_str(params, "payment_method"):
        method = payment_methods.resolve(req.sandbox, method_id)
        payments.check_usable(req.sandbox, method, intent["customer"])
        intent.update(payment_method=method["id"], status="requires_confirmation")
    req.store.put(intent)
    events.emit(req.sandbox, "payment_intent.created", intent, req.origin)
    if confirm:
        return _confirm(req, intent)
    return intent


def retrieve(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, ("client_secret",))
    intent = payments.get_intent(req.sandbox, req.path_params["id"])
    _check_client_secret(req, intent)
    return _view(req, intent)


def update(req: ApiRequest) -> dict[str, Any]:
    params = req.params
    check_allowed(params, ("amount", "currency", "customer", "description", "metadata", "payment_method", "receipt_email", "setup_future_usage"))
    intent = payments.get_intent(req.sandbox, req.path_params["id"])
    payment_fields = {"amount", "currency", "customer", "payment_method", "setup_future_usage"} & params.keys()
    if payment_fields and intent["status"] not in payments.CONFIRMABLE:
        raise errors.unexpected_state(
            f"You cannot update {sorted(payment_fields)[0]} on a PaymentIntent with a status of {intent['status']}."
        )
    currency = _currency(params, required=False) or intent["currency"]
    intent["currency"] = currency
    intent["amount"] = _amount(params, currency, required=False) or intent["amount"]
    if "customer" in params:
        intent["customer"] = _customer(req)
    for field in ("description", "receipt_email"):
        if field in params:
            intent[field] = get_str(params, field)
    if "setup_future_usage" in params:
        intent["setup_future_usage"] = get_enum(params, "setup_future_usage", SETUP_FUTURE_USAGE)
    intent["metadata"] = updated_metadata(params, intent["metadata"])
    if method_id := get_str(params, "payment_method"):
        method = payment_methods.resolve(req.sandbox, method_id)
        payments.check_usable(req.sandbox, method, intent["customer"])
        intent.update(payment_method=method["id"], status="requires_confirmation", next_action=None)
    return req.store.put(intent)


def confirm(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, _CONFIRM)
    intent = payments.get_intent(req.sandbox, req.path_params["id"])
    _check_client_secret(req, intent)
    if setup := get_enum(req.params, "setup_future_usage", SETUP_FUTURE_USAGE):
        intent["setup_future_usage"] = setup
    if email := get_str(req.params, "receipt_email"):
        intent["receipt_email"] = email
    return _confirm(req, intent)


def capture(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, ("amount_to_capture",))
    intent = payments.get_intent(req.sandbox, req.path_params["id"])
    return payments.capture(req.sandbox, intent, get_int(req.params, "amount_to_capture", minimum=1), req.origin)


def cancel(req: ApiRequest) -> dict[str, Any]:
    check_allowed(req.params, ("cancellation_reason",))
    intent = payments.get_intent(req.sandbox, req.path_params["id"])
    reason = get_enum(req.params, "cancellation_reason", ("duplicate", "fraudulent", "requested_by_customer", "abandoned"))
    return payments.cancel(req.sandbox, intent, reason, req.origin)


def list_intents(req: ApiRequest) -> dict[str, Any]:
    return req.filtered_page("payment_intent", "/v1/payment_intents", ("customer",))
