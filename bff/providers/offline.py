"""The offline assistant: the default when no model key is set.

It plays a model's part in the same tool loop, through the same MCP tools and
scrubbed results, so everything around it (events, storage, limits, the payment
card) runs exactly as with a real model. Each call looks at the user's last
message and the tool results that followed it and takes one step: call the
next tool, or answer. It never pays: like any model here, the most it does is
`initiatePayment`, and the buyer confirms on the card.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from payment_core.errors import OrderPayError
from payment_core.money import exponent, normalize_currency, to_major_units, to_minor_units
from payment_core.spec import PAYMENT_CONFIRMATION, LoadedApp
from bff.messages import Message, ToolCall, last_user_index
from bff.providers.base import ModelEvent, ModelRequest, TextDelta, ToolCallReady, ToolCallStarted
from bff.providers.offline_language import Intent, OrderKind, asks_for_help, order_kinds, read_intent

LIST_ROWS = 100  # rows fetched to find an order by position, label or state
SHOWN_ROWS = 10  # rows written in a list answer
UNPAID = ("pending", "canceled")


class OfflineAssistant:
    name = "offline"

    def __init__(self, app: LoadedApp) -> None:
        self.title = app.spec.title or app.codename
        self.kinds = order_kinds(app.spec, app.order_scripts)

    async def aclose(self) -> None:
        pass

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        step = self.next_step(request.messages, {tool.name for tool in request.tools})
        if isinstance(step, ToolCall):
            yield ToolCallStarted(step.id, step.name)
            yield ToolCallReady(step)
            return
        for line in step.splitlines(keepends=True):  # streamed line by line, as a model would
            yield TextDelta(line)

    def next_step(self, messages: list[Message], tools: set[str]) -> ToolCall | str:
        start = last_user_index(messages)
        if start < 0:
            return self.help()
        request = messages[start].text
        intent = read_intent(request, self.kinds)
        results = {m.tool_name: m for m in messages[start + 1:] if m.role == "tool"}
        for result in results.values():
            if result.is_error:
                return f"Sorry, I couldn't do that: {_plain_error(result.text)}"
        step = _Step(self, intent, results, tools, call_id=f"offline_{len(messages)}", history=messages[:start])
        if intent.action == "help" or intent.kind is None and intent.action != "cards":
            return self.help() if asks_for_help(request) else "Sorry, I didn't understand that.\n" + self.help()
        return step.run()

    def help(self) -> str:
        kind = self.kinds[0] if self.kinds else None
        if kind is None:
            return f"I'm the offline assistant of {self.title}, but this app has nothing to pay for."
        noun, plural = kind.noun, kind.plural
        return (f"I'm the offline assistant of {self.title}. I can:\n"
                f"- list your {plural}: “list my {plural}”, “list my unpaid {plural}”\n"
                f"- show one: “show my latest {noun}”, “show {noun} 2”\n"
                f"- prepare a payment: “pay my latest unpaid {noun}”, “pay {noun} 2” — you confirm it yourself "
                "on the payment card; nothing is charged before\n"
                f"- check a payment: “is my latest {noun} paid?”\n"
                f"- ask for a refund: “refund my latest {noun}, it arrived broken” — the merchant decides\n"
                "- list your saved cards: “show my saved cards”")


class _Step:
    """One request's next step, given the tool results so far."""

    def __init__(self, assistant: OfflineAssistant, intent: Intent, results: dict[str | None, Message],
                 tools: set[str], *, call_id: str, history: list[Message]) -> None:
        self.assistant, self.intent, self.results, self.tools = assistant, intent, results, tools
        self.call_id, self.history = call_id, history

    def call(self, name: str, arguments: dict[str, Any]) -> ToolCall | str:
        if name not in self.tools:
            return "The service that knows about this is not available right now. Please try again in a moment."
        return ToolCall(self.call_id, name, arguments)

    def run(self) -> ToolCall | str:
        intent = self.intent
        if intent.action == "cards":
            done = self.results.get("listSavedCards")
            return self.call("listSavedCards", {}) if done is None else _cards_answer(done.data or {})
        kind = intent.kind
        assert kind is not None
        if intent.action == "list":
            rows = self.listed(kind)
            return self.call(kind.list_tool, {"pageRowCount": LIST_ROWS}) if rows is None else \
                _list_answer(kind, rows, unpaid_only=intent.unpaid_only)
        found = self.resolve(kind)
        if not isinstance(found, tuple):
            return found
        order_id, record = found
        if intent.action == "show":
            done = self.results.get(kind.get_tool)
            if done is None:
                return self.call(kind.get_tool, {kind.obj.id_param: order_id})
            return _show_answer(kind, (done.data or {}).get(kind.obj.name) or {})
        reference = {"orderType": kind.obj.name, "orderId": order_id}
        if intent.action == "refund":
            done = self.results.get("requestRefund")
            if done is None:
                return self.call("requestRefund", {**reference, "reason": intent.text[:500]})
            what = label(kind, record) if record else f"your {kind.noun}"
            return (f"I've asked the merchant to refund {what}, with your words as the reason.\n"
                    "No money has moved: the merchant reviews the request and makes the refund.")
        tool = "initiatePayment" if intent.action == "pay" else "getPaymentStatus"
        done = self.results.get(tool)
        if done is None:
            return self.call(tool, reference)
        if intent.action == "pay":
            return _pay_answer(kind, done.data or {}, record)
        return _status_answer(kind, done.data or {}, record)

    def listed(self, kind: OrderKind) -> list[dict[str, Any]] | None:
        done = self.results.get(kind.list_tool)
        return None if done is None else list((done.data or {}).get(kind.obj.plural) or [])

    def resolve(self, kind: OrderKind) -> tuple[str, dict[str, Any] | None] | ToolCall | str:
        """The order the request is about: its id and, when a list was read, its record;
        else the next tool call, or an answer saying why there is none."""
        ref = self.intent.ref
        assert ref is not None
        if ref.kind == "id":
            return str(ref.value), None
        if ref.kind == "context":
            earlier = _order_in(self.history, kind)
            if earlier:
                return earlier, None
        rows = self.listed(kind)
        if rows is None:
            return self.call(kind.list_tool, {"pageRowCount": LIST_ROWS})
        if not rows:
            return f"You have no {kind.plural} yet."
        unpaid_wanted = ref.kind == "latest_unpaid" or ref.kind == "context" and self.intent.action == "pay"
        if unpaid_wanted:
            record = next((row for row in rows if row.get(PAYMENT_CONFIRMATION) in UNPAID), None)
            if record is None:
                return f"All your {kind.plural} are paid: there is nothing to pay."
        elif ref.kind == "position":
            position = int(ref.value or 0)
            if not 1 <= position <= len(rows):
                return f"You have {_count(len(rows), kind)}, so there is no {kind.noun} {position}."
            record = rows[position - 1]
        elif ref.kind == "label":
            record = _with_label(rows, str(ref.value))
            if record is None:
                return f"I couldn't find a {kind.noun} “{ref.value}” among your {kind.plural}."
        else:  # latest, or "it" with nothing earlier in the conversation
            record = rows[0]
        return record["id"], record


def _order_in(history: list[Message], kind: OrderKind) -> str | None:
    """The order of this kind the conversation last called a tool about ("pay it")."""
    for message in reversed(history):
        for call in reversed(message.tool_calls):
            arguments = call.arguments
            if arguments.get("orderType", kind.obj.name) == kind.obj.name:
                found = arguments.get("orderId") or arguments.get(kind.obj.id_param)
                if isinstance(found, str):
                    return found
    return None


def _with_label(rows: list[dict[str, Any]], label: str) -> dict[str, Any] | None:
    wanted = label.lower()
    for row in rows:
        for value in row.values():
            if isinstance(value, str) and (value.lower() == wanted or value.lower().endswith(wanted)):
                return row
    return None


def _count(number: int, kind: OrderKind) -> str:
    return f"{number} {kind.noun if number == 1 else kind.plural}"


def label(kind: OrderKind, record: dict[str, Any]) -> str:
    """How a person tells their orders apart: a number or title field, else the id's start; and its dates."""
    fields = kind.obj.fields
    named = next((str(record[name]) for name, field in fields.items()
                  if field.type in ("string", "text") and record.get(name)
                  and (name.lower().endswith("number") or name in ("title", "name"))), None)
    text = f"{kind.noun.capitalize()} {named or str(record.get('id', ''))[:8]}"
    dates = [_day(record[name]) for name, field in fields.items() if field.type == "date" and record.get(name)][:2]
    return text + (f" ({' → '.join(dates)})" if dates else "")


def _day(value: str) -> str:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%-d %b %Y")
    except ValueError:
        return value


def _money(minor: int, currency: str) -> str:
    return f"{to_major_units(minor, currency):.{exponent(currency)}f} {currency}"


def amount(kind: OrderKind, record: dict[str, Any]) -> str:
    """The order's amount as the payment would charge it, from the app spec's own expressions."""
    context = {kind.obj.name: record}
    try:
        currency = normalize_currency(kind.scripts.currency.evaluate(context))
        minor = to_minor_units(kind.scripts.amount.evaluate(context), currency, kind.obj.order.amountUnit)
    except (OrderPayError, ValueError, TypeError):
        return "amount unknown"
    return _money(minor, currency)


def state(record: dict[str, Any]) -> str:
    return {"paid": "paid", "processing": "payment processing", "canceled": "unpaid (last payment canceled)"}.get(
        record.get(PAYMENT_CONFIRMATION, ""), "unpaid")


def _list_answer(kind: OrderKind, rows: list[dict[str, Any]], *, unpaid_only: bool) -> str:
    if unpaid_only:
        rows = [row for row in rows if row.get(PAYMENT_CONFIRMATION) in UNPAID]
        if not rows:
            return f"All your {kind.plural} are paid."
    elif not rows:
        return f"You have no {kind.plural} yet."
    heading = f"You have {len(rows)} unpaid {kind.noun if len(rows) == 1 else kind.plural}:" if unpaid_only \
        else f"You have {_count(len(rows), kind)}:"
    lines = [f"{n}. {label(kind, row)} — {amount(kind, row)} — {state(row)}"
             for n, row in enumerate(rows[:SHOWN_ROWS], start=1)]
    if len(rows) > SHOWN_ROWS:
        lines.append(f"…and {len(rows) - SHOWN_ROWS} more.")
    hint = "" if unpaid_only else f"\nSay “show {kind.noun} 1” for details or “pay my latest unpaid {kind.noun}” to pay."
    return "\n".join([heading, *lines]) + hint


def _show_answer(kind: OrderKind, record: dict[str, Any]) -> str:
    status_field = kind.obj.order.orderStatusProperty
    lines = [f"{label(kind, record)}: {amount(kind, record)}, {state(record)}."]
    if record.get(status_field) is not None:
        lines.append(f"Status: {record[status_field]}")
    for name, field in kind.obj.fields.items():
        value = record.get(name)
        if name != status_field and field.type in ("string", "text", "integer", "double", "enum") and \
                value not in (None, "") and not name.lower().endswith("id"):
            lines.append(f"{name}: {value}")
    if record.get("createdAt"):
        lines.append(f"Created: {_day(record['createdAt'])}")
    return "\n".join(lines)


def _pay_answer(kind: OrderKind, data: dict[str, Any], record: dict[str, Any] | None) -> str:
    action = data.get("__frontendAction") or {}
    what = label(kind, record) if record else f"your {kind.noun}"
    try:
        price = _money(int(action["amountMinor"]), str(action["currency"]))
    except (KeyError, TypeError, ValueError):
        price = f"{action.get('amount')} {action.get('currency')}"
    return (f"The payment of {price} for {what} is ready.\n"
            "Nothing has been charged: check the details on the payment card and click Pay to confirm it yourself.")


def _status_answer(kind: OrderKind, data: dict[str, Any], record: dict[str, Any] | None) -> str:
    what = label(kind, record) if record else f"Your {kind.noun} {str(data.get('orderId', ''))[:8]}"
    confirmation = data.get(PAYMENT_CONFIRMATION)
    sentence = {
        "paid": f"{what} is paid.",
        "processing": f"The payment of {what} is being processed.",
        "canceled": f"The last payment of {what} was canceled or declined: it is not paid.",
    }.get(confirmation, f"{what} is not paid yet.")
    status = data.get("orderStatus")
    return sentence + (f" Its status is “{status}”." if status is not None else "")


def _cards_answer(data: dict[str, Any]) -> str:
    cards = data.get("cards") or []
    if not cards:
        return "You have no saved cards. You can add one on the payment card when you pay."
    described = [f"{str(card.get('brand') or 'card').capitalize()} ending {card.get('last4')}, expires "
                 f"{card.get('expMonth')}/{card.get('expYear')}" for card in cards]
    return f"You have {len(cards)} saved card{'s' if len(cards) > 1 else ''}:\n" + \
        "\n".join(f"- {line}" for line in described)


def _plain_error(text: str) -> str:
    """`Error: Error executing tool initiatePayment: this order is already paid` → the last part."""
    text = re.sub(r"^(Error:\s*)+", "", text.strip())
    return re.sub(r"^Error executing tool \w+:\s*", "", text) or "the tool failed"
