"""Structured logs: one JSON object a line, carrying the request id the envelope reports, with every
secret redacted (money rule 4: secrets never reach a log line)."""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import datetime, timezone

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REDACTED = "[redacted]"

# Each pattern keeps what identifies the thing (a path, a parameter name, an intent id) and drops the
# secret. Neither what is removed nor what replaces it holds a quote or a backslash, so a redacted
# JSON line (escaped JSON inside it too) is still JSON.
_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    # Pay links: /pay/{token} and the pay page's API /pay/api/{token}/… (tokens are long; /pay/result is not one).
    (re.compile(r"(/pay/(?:api/)?)(?!result\b)[A-Za-z0-9._~%-]{16,}"), rf"\1{REDACTED}"),
    # Query and form parameters that carry a secret.
    (re.compile(r"\b((?:payment_intent_)?client_secret|(?:access_|id_|refresh_)?token|key|secret)=[^&\s\"'#<>\\]+",
                re.IGNORECASE), rf"\1={REDACTED}"),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1 {REDACTED}"),
    # JWTs wherever they appear (bearer tokens quoted without their scheme).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # Stripe: client secrets of intents, webhook signing secrets, secret and restricted keys.
    (re.compile(r"\b((?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"), rf"\1_secret_{REDACTED}"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), f"whsec_{REDACTED}"),
    (re.compile(r"\b((?:sk|rk)_(?:test|live))_[A-Za-z0-9]+"), rf"\1_{REDACTED}"),
]


def redact(text: str) -> str:
    """`text` with pay-link tokens, bearer tokens, client secrets, webhook secrets and Stripe keys
    replaced by [redacted]: the one redaction every log line (access-log paths included) goes through."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text

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
    # uvicorn's own access log would duplicate ours, which carries the request id.
    logging.getLogger("uvicorn.access").disabled = True
