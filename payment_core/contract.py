"""The seeds' wire contract, in one place: every JSON shape orderpay answers with.

REST (`payment_core.api`), MCP over HTTP (`mcp_server.http`), the pay API (`web.payapi`) and the
chat API (`bff.chat_api`) all build their bodies here, so a change to the contract is one change:

- the success envelope: `status: "OK"`, `statusCode`, `elapsedMs`, `dataName`, `method`, `action`,
  `rowCount` and the data under its name (`ok_envelope`), or a bare acknowledgement (`ok_body`);
- the error body: `{result: "ERR", status, message, date}` plus `errCode`, `requestId` and any
  extra members a failure carries, e.g. a stale quote's `currentQuote` (`error_body`);
- `paymentResult`, the payment's state inside a 200 (`payment_result`), and the intent metadata it
  shows (`intent_metadata`);
- the payment-error object, a declined or refused payment inside `paymentResult` (`payment_error`).

Framework-free: it shapes dicts, the adapters send them.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from payment_core.clock import iso, utcnow
from payment_core.errors import BadInput

if TYPE_CHECKING:
    from payment_core.identity import Session


@dataclass
class RequestContext:
    """What the envelope reports about the request, filled in as it is handled."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    sso_ms: int = 0
    session: Session | None = None
    session_id: str | None = None


def ok_envelope(
    context: RequestContext,
    *,
    method: str,
    action: str,
    data_name: str,
    payload: dict[str, Any],
    row_count: int,
    status_code: int = 200,
    app_version: str,
) -> dict[str, Any]:
    """The seeds' success envelope around `payload` (the data under its name, e.g. `{"order": {...}}`)."""
    return {
        "status": "OK",
        "statusCode": str(status_code),
        "elapsedMs": round((time.perf_counter() - context.started) * 1000),
        "ssoTime": context.sso_ms,
        "source": "db",
        "cacheKey": None,
        "userId": context.session.user_id if context.session else None,
        "sessionId": context.session_id,
        "requestId": context.request_id,
        "dataName": data_name,
        "method": method,
        "action": action,
        "appVersion": app_version,
        "rowCount": row_count,
        **payload,
    }


def ok_body(status_code: int | None = None, **members: Any) -> dict[str, Any]:
    """A short success answer outside the envelope: a webhook's acknowledgement, the pay page's data."""
    body: dict[str, Any] = {"status": "OK"}
    if status_code is not None:
        body["statusCode"] = str(status_code)
    body.update(members)
    return body


def error_body(status: int, message: str, *, code: str | None = None, request_id: str | None = None,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seeds' error body; `details` are extra members (never overriding the body's own)."""
    body: dict[str, Any] = {
        "result": "ERR",
        "status": status,
        "message": message,
        "date": iso(utcnow()),
    }
    if code:
        body["errCode"] = code
    if request_id:
        body["requestId"] = request_id
    for name, value in (details or {}).items():
        body.setdefault(name, value)
    return body


def payment_result(record: dict[str, Any] | None, intent: dict[str, Any] | None, *, publishable_key: str,
                   amount: int | float | None, currency: str | None, user_params: dict[str, Any] | None = None,
                   with_secret: bool = True) -> dict[str, Any] | None:
    """The seeds' paymentResult: the payment record and, once there is one, Stripe's intent.

    `amount` is in major units as JSON shows it; `with_secret=False` leaves out the client secret
    and the next action's URLs (which carry it), for events and reads that are not the payer's."""
    if record is None:
        return None
    info = None
    if intent is not None:
        info = {"paymentIntentId": intent["id"], "status": intent["status"], "publicKey": publishable_key,
                "clientSecret": intent.get("client_secret") if with_secret else None}
        if intent.get("next_action") and with_secret:  # its URLs carry the client secret
            info["nextAction"] = intent["next_action"]
    return {
        "success": intent is not None and record["statusLiteral"] != "failed",
        "paymentTicketId": record["id"],
        "orderId": record["orderId"],
        "paymentId": record["paymentId"],
        "paymentStatus": intent["status"] if intent else record["paymentStatus"],
        "paymentIntentInfo": info,
        "statusLiteral": record["statusLiteral"],
        "amount": amount,
        "currency": currency,
        "description": (intent or {}).get("description"),
        "metadata": (intent or {}).get("metadata"),
        "paymentUserParams": user_params,
    }


def intent_metadata(service_name: str, object_name: str, order_id: str, checkout_name: str) -> dict[str, str]:
    """The metadata the seeds give a PaymentIntent, which `paymentResult.metadata` shows (seed 002's
    checkout parameters): `order` tags the service and object (`OrderManagement-Order-order`),
    `orderId` is the spec's `orderId` script (the order's own id), `checkoutName` the spec's `orderName`."""
    def tag(name: str) -> str:
        return name[:1].upper() + name[1:]

    return {"order": f"{tag(service_name)}-{tag(object_name)}-order", "orderId": order_id, "checkoutName": checkout_name}


def payment_error(status: int, stripe_message: str, *, code: str, decline_code: str | None = None,
                  intent: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seeds' payment-error object, carried inside `paymentResult` of a 200 response: `errCode` is
    Stripe's error `code` (card_declined, incorrect_cvc, expired_card…), `declineCode` the bank's reason,
    and `paymentId`/`paymentStatus` the intent Stripe's error names, if any."""
    result: dict[str, Any] = {
        "result": "ERR", "status": status, "message": f"Stripe error message: {stripe_message}",
        "errCode": code, "declineCode": decline_code, "date": iso(utcnow()),
    }
    if intent is not None:
        result["paymentId"] = intent["id"]
        result["paymentStatus"] = intent["status"]
    return result


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as the contract accepts it: one JSON object, strict JSON (no NaN), else 400."""
    if not raw.strip():
        raise BadInput("the request body must be a JSON object")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadInput("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("the request body must be a JSON object")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN and Infinity; JSON does not
