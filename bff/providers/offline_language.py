"""The plain English the offline assistant understands, read into an `Intent`.

Deterministic on purpose: a fixed set of requests (list, show, pay, payment
status, saved cards, asking for a refund) about the app's order objects, named by their own nouns
(from the app spec) or by the generic "order". Anything else is `help`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from payment_core.spec import AppSpec, DataObjectSpec
from payment_core.spec.loader import OrderScripts

Action = Literal["help", "list", "show", "pay", "status", "cards", "refund"]
RefKind = Literal["id", "position", "label", "latest", "latest_unpaid", "context"]

# Everyday names of the bundled apps' order objects, besides their own.
SYNONYMS = {"reservation": ("booking", "stay"), "listing": ("ad", "advert", "upgrade"), "order": ("purchase",)}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10}

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_CARDS = re.compile(r"\b(cards?|payment methods?)\b")
_STATUS = re.compile(r"\b(status|state)\b|\bpaid\s*\?|\b(is|was|are|were|has|have)\b.*\bpaid\b"
                     r"|\b(did|has)\b.*\b(go through|gone through|succeed|work|worked)\b|\bwent through\b")
_REFUND = re.compile(r"\b(refund|money back|reimburse)\b")
_PAY = re.compile(r"\b(pay|paying|checkout|check out|settle)\b")
_SHOW = re.compile(r"\b(show|detail|details|open|view|see|look at|tell me about|what about|get|display)\b")
_LIST = re.compile(r"\b(list|what are|which|all|how many|do i have)\b")
_HELP = re.compile(r"\b(help|what can you do|how does this work|hello|hi|hey)\b")
_LATEST = re.compile(r"\b(latest|last|newest|most recent|recent)\b")
_UNPAID = re.compile(r"\b(unpaid|not paid|not yet paid|outstanding)\b")
_POSITION = re.compile(r"(?:#|\bnumber\s+|\bno\.?\s*)(\d{1,3})\b|\b(\d{1,2})(?:st|nd|rd|th)\b")
_LABEL = re.compile(r"\b[a-z]{1,6}-\d{2,}\b|\b\d{3,}\b", re.I)
_SMALL_NUMBER = re.compile(r"\b(\d{1,2})\b")
_CONTEXT = re.compile(r"\b(it|that|this|that one|this one)\b")


@dataclass(frozen=True)
class OrderKind:
    """One order object of the app, with the words that name it and its tools."""

    obj: DataObjectSpec
    scripts: OrderScripts
    nouns: tuple[str, ...]
    plural_nouns: tuple[str, ...]

    @property
    def noun(self) -> str:
        return self.nouns[0]

    @property
    def plural(self) -> str:
        return self.plural_nouns[0]

    @property
    def list_tool(self) -> str:
        return "list" + self.obj.plural[:1].upper() + self.obj.plural[1:]

    @property
    def get_tool(self) -> str:
        return "get" + self.obj.name[:1].upper() + self.obj.name[1:]


@dataclass(frozen=True)
class Ref:
    kind: RefKind
    value: str | int | None = None


@dataclass(frozen=True)
class Intent:
    action: Action
    kind: OrderKind | None = None
    ref: Ref | None = None
    unpaid_only: bool = False
    text: str = ""  # the user's own words (a refund request's reason)


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def order_kinds(spec: AppSpec, scripts: dict[str, OrderScripts]) -> list[OrderKind]:
    kinds = []
    for _, obj in spec.order_objects():
        singular, plural = _words(obj.name), _words(obj.plural)
        head = singular.split()[-1]  # an "order management order" is called an "order"
        nouns = [head, singular, *SYNONYMS.get(head, ())]
        plurals = [plural.split()[-1], plural, *(f"{word}s" for word in SYNONYMS.get(head, ()))]
        kinds.append(OrderKind(obj, scripts[obj.name], tuple(dict.fromkeys(nouns)), tuple(dict.fromkeys(plurals))))
    return kinds


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b", text) for word in words)


def _kind_in(text: str, kinds: list[OrderKind]) -> tuple[OrderKind | None, bool]:
    """The order object the text names (the first one for a generic "order"), and whether in the plural."""
    for kind in kinds:
        if _mentions(text, kind.plural_nouns):
            return kind, True
    for kind in kinds:
        if _mentions(text, kind.nouns):
            return kind, False
    if re.search(r"\b(orders|ones)\b", text):
        return (kinds[0] if kinds else None), True
    if re.search(r"\b(order|one)\b", text):
        return (kinds[0] if kinds else None), False
    return None, False


def _ref_in(text: str, original: str) -> Ref | None:
    if match := _UUID.search(original):
        return Ref("id", match.group().lower())
    if _LATEST.search(text) and _UNPAID.search(text):
        return Ref("latest_unpaid")
    if match := _POSITION.search(text):
        return Ref("position", int(match.group(1) or match.group(2)))
    for word, position in ORDINALS.items():
        if re.search(rf"\b{word}\b", text):
            return Ref("position", position)
    if match := _LABEL.search(original):
        return Ref("label", match.group())
    if match := _SMALL_NUMBER.search(text):  # "pay order 2": the second in the list
        return Ref("position", int(match.group(1)))
    if _LATEST.search(text):
        return Ref("latest")
    if _UNPAID.search(text):
        return Ref("latest_unpaid")
    if _CONTEXT.search(text):
        return Ref("context")
    return None


def read_intent(message: str, kinds: list[OrderKind]) -> Intent:
    """What the user asks for. Order matters: "pay with my card" is a payment, "is it paid?" a status."""
    original = message.strip()
    text = re.sub(r"\s+", " ", original.lower())
    kind, plural = _kind_in(text, kinds)
    ref = _ref_in(text, original)
    if _REFUND.search(text):  # asked of the merchant, never made: see requestRefund
        return Intent("refund", kind or _first(kinds), ref or Ref("context"), text=original)
    if _PAY.search(text) and not _STATUS.search(text):
        return Intent("pay", kind or _first(kinds), ref or Ref("context"))
    if _STATUS.search(text) and (kind or ref or "payment" in text):
        return Intent("status", kind or _first(kinds), ref or Ref("context"))
    if _CARDS.search(text):
        return Intent("cards")
    if kind is not None and plural and (ref is None or ref.kind in ("latest_unpaid", "latest")):
        if _LIST.search(text) or _SHOW.search(text) or text.startswith("my ") or len(text.split()) <= 3:
            return Intent("list", kind, unpaid_only=_UNPAID.search(text) is not None)
    if kind is not None and (_SHOW.search(text) or ref is not None):
        return Intent("show", kind, ref or Ref("context"))
    if ref is not None and ref.kind in ("id", "label"):
        return Intent("show", _first(kinds), ref)
    return Intent("help", kind)


def asks_for_help(message: str) -> bool:
    return _HELP.search(message.lower()) is not None


def _first(kinds: list[OrderKind]) -> OrderKind | None:
    return kinds[0] if kinds else None
