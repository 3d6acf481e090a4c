"""The seeds' success envelope as a FastAPI response: the one place a route turns a payload into it."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from payment_core.api.auth import context_of
from payment_core.contract import ok_envelope


def envelope_response(request: Request, action: str, data_name: str, payload: dict[str, Any], rows: int = 1, *,
                      app_version: str, status: int = 200) -> JSONResponse:
    """`payload` under the envelope of this request (its id, timing, method), answered with `status`."""
    body = ok_envelope(context_of(request), method=request.method, action=action, data_name=data_name,
                       payload=payload, row_count=rows, status_code=status, app_version=app_version)
    return JSONResponse(body, status_code=status)
