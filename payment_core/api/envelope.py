"""The seeds' response envelopes: `status: OK` around data, `result: ERR` for errors."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from payment_core.identity import Session
from payment_core.objects import iso


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


def error_body(status: int, message: str, *, code: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "result": "ERR",
        "status": status,
        "message": message,
        "date": iso(datetime.now(timezone.utc)),
    }
    if code:
        body["errCode"] = code
    if request_id:
        body["requestId"] = request_id
    return body
