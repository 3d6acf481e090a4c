"""Every failure answers the seeds' error envelope `{result: "ERR", status, message, date}`."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from payment_core.contract import error_body
from payment_core.errors import OrderPayError, Unauthorized
from payment_core.spec.inputs import bad_input_from

log = logging.getLogger("orderpay.errors")


def _request_id(request: Request) -> str | None:
    context = getattr(request.state, "context", None)
    return context.request_id if context else None


def error_response(request: Request, status: int, message: str, code: str | None = None,
                   headers: dict[str, str] | None = None, details: dict[str, object] | None = None) -> JSONResponse:
    headers = {**({"WWW-Authenticate": "Bearer"} if status == 401 else {}), **(headers or {})}
    return JSONResponse(error_body(status, message, code=code, request_id=_request_id(request), details=details),
                        status, headers=headers)


async def _orderpay_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OrderPayError)
    if isinstance(exc, Unauthorized):
        log.info("unauthorized", extra={"reason": exc.message})
    retry_after = getattr(exc, "retry_after", None)  # a 429 says when to come back
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return error_response(request, exc.status, exc.message, exc.code, headers, exc.details)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, (RequestValidationError, ValidationError))
    errors = exc.errors()
    if errors and errors[0]["type"] == "json_invalid":
        return error_response(request, 400, "the request body is not valid JSON", "bad_input")
    return error_response(request, 400, bad_input_from(errors).message, "bad_input")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = {404: "Route not found", 405: "Method not allowed"}.get(exc.status_code, str(exc.detail))
    return error_response(request, exc.status_code, message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return error_response(request, 500, "Internal server error", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OrderPayError, _orderpay_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
