"""Domain errors. Each carries the HTTP-like status the contract gives it, so the
REST API and the MCP server report the same failure the same way."""
from __future__ import annotations


class OrderPayError(Exception):
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
