"""Secrets in any text, found by one set of patterns: what keeps them out of every log line
(`payment_core.logs`) and out of what a model or the chat UI is shown (`bff.scrub`) — money
rule 4: tokens, client secrets, keys, pay links and card numbers never reach a log line or a model.

Each kind of secret keeps what identifies the thing (a path, a parameter name, an intent id, the
auth scheme) and drops the secret; the caller says what stands in its place. A kind's pattern
runs only on text holding one of the marks every secret of its kind carries (a substring
test), since this runs on every log line: a line without a secret costs a few microseconds.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from payment_core.luhn import luhn_valid

# kind: (what identifies it, kept; the secret, replaced). Neither holds a quote or a backslash, so
# a redacted JSON line (escaped JSON inside it too) is still JSON.
KINDS: dict[str, tuple[str, str]] = {
    # Pay links, `/pay/{token}` and the pay page's API `/pay/api/{token}/…`, with their host if any
    # (`/pay/result` is a page, not a link).
    "pay_link": (r"(?:https?://[^\s\"'<>]*?)?/pay/(?:api/)?", r"(?!result\b)[A-Za-z0-9._~%-]+"),
    # Query and form parameters that carry a secret: `token=`, `access_token=`, `api_key=`,
    # `client_secret=`, `password=`, …
    "parameter": (r"\b(?i:(?:[a-z0-9]+_)*(?:secret|token|key|password|passwd))=", r"[^&\s\"'#<>\\]+"),
    # Authorization header values. The scheme is spelled as clients send it, so that prose such as
    # "a basic question" stays; a real credential is at least 8 characters.
    "authorization": (r"\b(?:[Bb]earer|BEARER|Basic|BASIC)\s+", r"[A-Za-z0-9._~+/=-]{8,}"),
    # JWTs wherever they appear (bearer tokens quoted without their scheme).
    "jwt": (r"", r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    # Stripe: client secrets of payment and setup intents, payment methods and sources.
    "client_secret": (r"\b(?:pi|seti|pm|src)_[A-Za-z0-9]+_secret_", r"[A-Za-z0-9]+"),
    # Stripe: webhook signing secrets, secret and restricted keys.
    "webhook_secret": (r"\bwhsec_", r"[A-Za-z0-9+/=_-]+"),
    "api_key": (r"\b(?:sk|rk)_(?:test|live)_", r"[A-Za-z0-9]+"),
    # Card numbers: 13 to 19 digits, spaces or dashes between them, that pass the Luhn check.
    "card_number": (r"", r"(?<![\w-])[2-6](?:[ -]?\d){12,18}(?![\w-])"),
}

# What any match of a kind holds: its pattern is run only on text that has one of these (a few
# substring tests, fast next to a regular expression's scan). Keep them in step with KINDS.
_MARKS: dict[str, tuple[str, ...]] = {
    "pay_link": ("/pay/",), "parameter": ("=",), "authorization": ("earer", "EARER", "Basic", "BASIC"),
    "jwt": ("eyJ",), "client_secret": ("_secret_",), "webhook_secret": ("whsec_",),
    "api_key": ("k_test_", "k_live_"), "card_number": (),
}
# A card number's mark: a digit 2-6, then 12 more of digits, spaces and dashes.
_CARD_MARK = re.compile(r"[2-6][\d -]{12}")
_PATTERNS = {kind: re.compile(f"(?P<keep>{keep}){secret}") for kind, (keep, secret) in KINDS.items()}


def kinds_in(text: str) -> list[str]:
    """The kinds of secret `text` may hold (a superset: the patterns decide)."""
    found = [kind for kind, marks in _MARKS.items() if any(mark in text for mark in marks)]
    if _CARD_MARK.search(text) is not None:
        found.append("card_number")
    return found


class Redactor:
    """Replaces each secret of the kinds in `notes` by its note, after what identifies it (the
    whole match for the kinds in `whole`). Kinds not in `notes` are left as they are."""

    def __init__(self, notes: Mapping[str, str], *, whole: frozenset[str] = frozenset()) -> None:
        unknown = (notes.keys() | whole) - KINDS.keys()
        if unknown:
            raise ValueError(f"unknown kinds of secret: {sorted(unknown)}")
        self._replacements = {kind: _replacement(kind, note, whole=kind in whole) for kind, note in notes.items()}

    def __call__(self, text: str) -> str:
        for kind in kinds_in(text):
            replacement = self._replacements.get(kind)
            if replacement is not None:
                text = _PATTERNS[kind].sub(replacement, text)
        return text


def _replacement(kind: str, note: str, *, whole: bool) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        if kind == "card_number" and not luhn_valid(re.sub(r"\D", "", match.group())):
            return match.group()  # a long number, not a card's
        return note if whole else match.group("keep") + note
    return replace
