"""Every failure orderpay names, in one hierarchy:

    Exception
     ├── OrderPayError ·············· answered in the contract's error body with its status and errCode
     │    ├── BadInput ·············· 400 bad_input: the request is wrong; nothing changed
     │    │    └── StripeRefused ···· 400/404 Stripe's code: Stripe refused the call, did nothing
     │    ├── WebhookRejected ······· 400 webhook_rejected: a delivery not from Stripe
     │    ├── Unauthorized ·········· 401 unauthorized
     │    ├── PaymentRequired ······· 402 card_declined (or Stripe's code): a card declined; nothing saved
     │    ├── Forbidden ············· 403 forbidden
     │    ├── NotFound ·············· 404 not_found
     │    ├── Conflict ·············· 409 conflict
     │    │    └── StaleQuote ······· 409 stale_quote, with the current quote
     │    ├── PayloadTooLarge ······· 413 payload_too_large
     │    ├── TooManyRequests ······· 429 too_many_requests: wait a minute
     │    │    └── SignInThrottled ·· 429 too_many_sign_in_attempts, with Retry-After
     │    ├── PaymentGatewayUnavailable  502: Stripe unreachable or failing; outcome kept to recover
     │    ├── ServiceUnavailable ···· 503 service_unavailable
     │    └── WebhookNotReady ······· 503 webhook_not_ready: Stripe retries
     ├── PayLinkError ··············· a pay link refused (401/403/409 by reason), in the error body
     ├── AuthError ·················· a bearer token refused (becomes 401)
     ├── KeySetUnavailable ·········· the identity provider's keys could not be fetched
     ├── MigrationRefused ··········· a schema change that could lose data; nothing changed
     ├── StartupError ··············· production lacks a setting it cannot run without
     ├── RuntimeError
     │    └── DatabaseBehind ········ production start on a database not yet upgraded
     └── ValueError ················· bad configuration, found when it is loaded
          ├── SpecError ············· a spec file is wrong (file, path, message)
          └── MScriptError ·········· an MScript expression is wrong (message, position)
               └── MScriptEvaluationError  it failed while evaluating

`OrderPayError` carries the HTTP status the contract gives it, so the REST API, the MCP server and
the pay API report one failure the same way (`payment_core.contract.error_body`). The others are
caught where they happen and turned into an answer, a payment result, or a start-up message.

A declined card and a request Stripe refused are not raised where a caller acts on them: they are
outcomes of the gateway (`payment_core.payments.gateway`: `Intent | Declined | Refused`), which
raises only when the outcome is unknown (`PaymentGatewayUnavailable`). A caller that answers them as
errors raises `Declined.error()` (a `PaymentRequired`) or `Refused.error()` (a `StripeRefused`).

The Stripe sandbox (`payment_core.sandbox`) keeps its own errors: it imitates Stripe's, and it is a
separate part the payment flow never imports. The outer parts' own failures stay in their part (`bff.providers.ProviderError`:
a chat model provider failed). The modules where a failure happens re-export its
class (`payment_core.paylinks.PayLinkError`, `payment_core.payments.throttle.TooManyRequests`, ...).
"""
from __future__ import annotations

from typing import Literal

PayLinkErrorReason = Literal["malformed", "tampered", "expired", "other_order", "used", "paid", "changed",
                             "other_user", "sign_in_required", "canceled"]

AuthErrorReason = Literal[
    "missing",
    "malformed",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_issuer",
    "wrong_audience",
    "unknown_key",
    "invalid_claims",
    "issuer_unreachable",
]

_EXCERPT_CHARS = 24  # how much of an MScript expression an error quotes


class OrderPayError(Exception):
    """A failure answered to the caller: `status` and `code` are its HTTP status and the body's errCode."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Extra members of the error envelope, e.g. the current quote of a 409 for a stale one.
        self.details = details or {}


class BadInput(OrderPayError):
    status = 400
    code = "bad_input"


class Unauthorized(OrderPayError):
    status = 401
    code = "unauthorized"


class Forbidden(OrderPayError):
    status = 403
    code = "forbidden"


class NotFound(OrderPayError):
    status = 404
    code = "not_found"

    def __init__(self, message: str = "Record not found", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class Conflict(OrderPayError):
    status = 409
    code = "conflict"


class PaymentRequired(OrderPayError):
    """Stripe declined the card (at attach): nothing was saved or charged."""

    status = 402
    code = "card_declined"


class PayloadTooLarge(OrderPayError):
    status = 413
    code = "payload_too_large"


class ServiceUnavailable(OrderPayError):
    status = 503
    code = "service_unavailable"


class StaleQuote(Conflict):
    """The buyer's quote (what the payment card showed) is not what the order costs now: 409 with the
    current quote, so the UI can show it and ask again. Nothing was charged."""

    code = "stale_quote"


class WebhookRejected(OrderPayError):
    """A delivery that is not from Stripe (or not for us in a way we must refuse): 400."""

    status = 400
    code = "webhook_rejected"


class WebhookNotReady(OrderPayError):
    """Ours, but not applicable yet (its payment record is not committed): 503, so Stripe retries."""

    status = 503
    code = "webhook_not_ready"


class TooManyRequests(OrderPayError):
    """Too many attempts in a minute: wait and try again; nothing was done."""

    status = 429
    code = "too_many_requests"


class SignInThrottled(TooManyRequests):
    """Too many failed sign-ins; `retry_after` seconds until the next attempt is heard."""

    code = "too_many_sign_in_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-in attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


class PaymentGatewayUnavailable(OrderPayError):
    """Stripe could not be reached or failed (5xx, timeout, rate limit, bad keys): retry later."""

    status = 502
    code = "payment_gateway_unavailable"


class StripeRefused(BadInput):
    """Stripe refused the request outright (an `invalid_request_error`, 400 or 404): it did nothing.
    The gateway's `Refused` outcome, answered as an error by a caller that has no other use for it."""

    def __init__(self, message: str, *, stripe_code: str | None, param: str | None, status: int) -> None:
        super().__init__(message, field=param)
        self.status = status
        self.code = stripe_code or "stripe_refused"  # the envelope's errCode: Stripe's own code


class PayLinkError(Exception):
    """A pay link was refused; `reason` says why, the message is safe to show the buyer."""

    def __init__(self, reason: PayLinkErrorReason) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason = reason
        self.message = _MESSAGES[reason]

    @property
    def status(self) -> int:
        """The HTTP status of this refusal: the link itself is bad (401), or its user is
        someone else (403), or the order moved on since it was issued (409)."""
        return {"other_user": 403, "used": 409, "paid": 409, "changed": 409, "canceled": 409}.get(self.reason, 401)


_MESSAGES: dict[PayLinkErrorReason, str] = {
    "malformed": "This pay link is not valid.",
    "tampered": "This pay link is not valid.",
    "expired": "This pay link has expired; ask the assistant for a new one.",
    "other_order": "This pay link is for another order.",
    "used": "This pay link has already been used to pay its order; it cannot pay again.",
    "paid": "This order is already paid.",
    "changed": "The order's amount or currency changed after this pay link was made; ask the assistant for a new one.",
    "other_user": "This pay link belongs to another account: sign in as the buyer it was made for.",
    "sign_in_required": "Saved cards need you to sign in as the buyer this pay link was made for.",
    "canceled": "This payment was cancelled; ask the assistant for a new pay link.",
}


class AuthError(Exception):
    """A token was refused. ``message`` is safe to show the client; ``reason`` is for code."""

    def __init__(self, reason: AuthErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"AuthError(reason={self.reason!r}, message={self.message!r})"


class KeySetUnavailable(Exception):
    """The issuer's key set could not be fetched (network error, bad status, not a JWKS)."""


class MigrationRefused(Exception):
    """The spec asks for a change that could lose data or fail on existing rows; nothing was changed."""


class StartupError(Exception):
    """A setting that production cannot run without; the message is one line naming it."""


class DatabaseBehind(RuntimeError):
    """Production start on a database that `orderpay db upgrade` has not brought up to date."""


class SpecError(ValueError):
    """A spec file is wrong: `file`, the `path` inside it, and a message for its author."""

    def __init__(self, file: str, path: str, message: str) -> None:
        self.file, self.path, self.message = file, path, message
        where = f"{file}: {path}: " if path else f"{file}: "
        super().__init__(where + message)


class MScriptError(ValueError):
    """A problem with an MScript expression found while loading it.

    Subclasses ValueError because a bad expression is bad configuration
    input, and callers that validate specs already catch ValueError.
    """

    def __init__(self, message: str, position: int | None = None, source: str | None = None) -> None:
        self.message = message
        self.position = position
        self.source = source
        super().__init__(message, position)

    def __str__(self) -> str:
        if self.position is None:
            return f"{self.message}."
        return f"{self.message} (at position {self.position}{self._excerpt()})."

    def _excerpt(self) -> str:
        # Quote the text at the position so the author can find it without counting.
        if self.source is None or self.position is None:
            return ""
        if self.position >= len(self.source):
            return ", the end of the expression"
        snippet = self.source[self.position : self.position + _EXCERPT_CHARS]
        if self.position + _EXCERPT_CHARS < len(self.source):
            snippet += "..."
        return f", near {snippet!r}"


class MScriptEvaluationError(MScriptError):
    """A fault while evaluating, where JavaScript would have thrown, or a limit was hit."""
