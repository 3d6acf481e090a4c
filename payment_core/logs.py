"""Structured logs: one JSON object a line, carrying the request id the envelope reports, with every
secret redacted (money rule 4: secrets never reach a log line)."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import datetime, timezone

from payment_core.redaction import KINDS, Redactor

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REDACTED = "[redacted]"

_FOR_LOGS = Redactor({kind: REDACTED for kind in KINDS})


def redact(text: str) -> str:
    """`text` with every kind of secret of `payment_core.redaction` (pay-link tokens, bearer tokens,
    client secrets, keys, secret parameters, card numbers) replaced by [redacted]: the one
    redaction every log line goes through (`RedactingFormatter`)."""
    return _FOR_LOGS(text)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["requestId"] = request_id
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RedactingFormatter(logging.Formatter):
    """Formats with `inner`, then redacts the whole line: message, extra fields and tracebacks alike."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    inner = JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(RedactingFormatter(inner))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours, which carries the request id (`orderpay serve`
    # also turns it off in uvicorn, which then does not build its lines at all).
    logging.getLogger("uvicorn.access").disabled = True
