"""What of a tool result a model may read, and what the chat UI may show.

The model never receives bearer tokens, Stripe client secrets or keys, card
numbers, or pay links (a pay link lets whoever holds it pay that order: it is
the buyer's, shown on the payment card). orderpay's own tools already leave
these out; this is the second line, for any MCP server's results, and it is
applied to everything a model is sent about a tool. The UI gets the result with
the same secrets removed but its `__frontendAction` intact, so it can show the
Pay card.
"""
from __future__ import annotations

import json
import re
from typing import Any

from mcp_types import CallToolResult

from payment_core.redaction import Redactor, kinds_in

FRONTEND_ACTION = "__frontendAction"
MAX_MODEL_TEXT = 20_000  # characters of one tool result a model reads; the rest is cut

_SECRET_KEY = re.compile(
    r"^(client_?secret|secret|password|passwd|pass|token|access_?token|refresh_?token|id_?token|bearer|"
    r"authorization|api_?key|secret_?key|cvc|cvv|cvc2|card_?number|pan)$", re.I)
_MODEL_HIDDEN_KEYS = frozenset({"payUrl", "payUrlExpiresAt"})

# What stands in for each kind of secret (payment_core.redaction's one pattern set). The UI keeps
# pay links: its payment card needs the buyer's link; a model gets a note in their place.
_NOTES = {"parameter": "[removed]", "authorization": "[token removed]", "jwt": "[token removed]",
          "client_secret": "[client secret removed]", "webhook_secret": "[key removed]", "api_key": "[key removed]",
          "card_number": "[card number removed]"}
_WHOLE = frozenset({"pay_link", "client_secret", "webhook_secret", "api_key"})
_FOR_UI = Redactor(_NOTES, whole=_WHOLE)
_FOR_MODEL = Redactor({**_NOTES, "pay_link": "[pay link, shown to the user on the payment card]"}, whole=_WHOLE)


def scrub_text(text: str, *, for_model: bool) -> str:
    """`text` with secrets replaced by a note saying what was there."""
    return _FOR_MODEL(text) if for_model else _FOR_UI(text)


def scrub_value(value: Any, *, for_model: bool) -> Any:
    """A JSON value with secret fields and secret-looking strings removed, at any depth."""
    return _scrub(value, for_model, _may_hold_secrets(value))


def _may_hold_secrets(value: Any) -> bool:
    """Whether a string in `value` may hold a secret the redactor replaces, asked once of the value
    as JSON text (as of a log line) rather than of each string: a result's tens of strings each cost
    a redactor's pass otherwise. Exact: the redactor changes a string only where it finds a kind's
    mark, a mark holds no character that JSON escapes (quotes, backslashes, control characters), so
    a mark in any string is in the text as it is; a text without any therefore has none in its strings."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON as it is: each string is looked at
        return True
    return bool(kinds_in(text))


def _scrub(value: Any, for_model: bool, redact: bool) -> Any:
    if isinstance(value, str):
        return scrub_text(value, for_model=for_model) if redact else value
    if isinstance(value, list):
        return [_scrub(item, for_model, redact) for item in value]
    if not isinstance(value, dict):
        return value
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if _SECRET_KEY.match(key) and item not in (None, ""):
            cleaned[key] = "[removed]"
        elif for_model and key in _MODEL_HIDDEN_KEYS:
            continue
        elif for_model and key == FRONTEND_ACTION and isinstance(item, dict):
            cleaned[key] = {**_scrub(item, True, redact), "shownToUser": True}
        else:
            cleaned[key] = _scrub(item, for_model, redact)
    return cleaned


def _texts(result: CallToolResult) -> list[str]:
    """The result's text blocks, less the JSON twin of `structuredContent` (the MCP spec's
    recommended copy for older clients), and a note for each block that is not text."""
    texts = []
    for block in result.content:
        if block.type != "text":
            texts.append(f"[{block.type} content not shown]")
            continue
        if result.structured_content is not None:
            try:
                if json.loads(block.text) == result.structured_content:
                    continue
            except ValueError:
                pass
        texts.append(block.text)
    return texts


def for_model(result: CallToolResult) -> tuple[str, Any]:
    """The text a model reads about a result, and the scrubbed data it was written from."""
    data = scrub_value(result.structured_content, for_model=True) if result.structured_content is not None else None
    parts = [scrub_text(text, for_model=True) for text in _texts(result)]
    if data is not None:
        parts.append(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    text = "\n".join(parts) or "(no content)"
    if len(text) > MAX_MODEL_TEXT:
        text = text[:MAX_MODEL_TEXT] + f"\n[… cut: the result is longer than {MAX_MODEL_TEXT} characters]"
    return text, data


def for_ui(result: CallToolResult) -> Any:
    """The result as the chat UI gets it: the structured content (with any `__frontendAction`),
    else the text; secrets removed either way."""
    if result.structured_content is not None:
        return scrub_value(result.structured_content, for_model=False)
    return scrub_text("\n".join(_texts(result)), for_model=False)


def error_message(result: CallToolResult) -> str:
    """The plain message of a failed call."""
    return scrub_text("\n".join(_texts(result)), for_model=True) or "the tool failed"
