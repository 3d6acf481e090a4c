"""The payment tools: prepare a payment, read its status, list saved cards.

None of them can move money. `initiatePayment` only checks that the order is the
caller's and payable, and answers with a link to the hosted pay page for that
one order; the buyer pays there, with their own click. Card data and client
secrets never reach these results.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Literal

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, create_model

from payment_core.errors import ServiceUnavailable
from payment_core.identity import Session
from payment_core.money import json_number
from payment_core.clock import iso
from payment_core.paylinks import issue_pay_token, pay_link_secret
from payment_core.runtime import Runtime
from payment_core.spec import PAYMENT_CONFIRMATION, PAYMENT_CONFIRMATION_VALUES
from mcp_server.payment_card import PAYMENT_CARD_URI
from mcp_server.schemas import RecordId, object_schema
from mcp_server.toolkit import (READ_ONLY, ToolSpec, input_schema, parse_arguments, tool_caller, tool_result,
                              ui_tool_result)
from mcp_server.wording import capitalized, words

PAY_MESSAGE = "Payment is ready. Click Pay to proceed."


def payment_tools(runtime: Runtime) -> list[ToolSpec]:
    orders = [obj.name for _, obj in runtime.app.spec.order_objects()]
    if not orders:
        return []
    order_ref = order_ref_model(orders)
    return [
        initiate_payment_tool(runtime, order_ref),
        payment_status_tool(runtime, order_ref),
        payment_status_tool(runtime, order_ref, refresh=True),
        saved_cards_tool(runtime),
        request_refund_tool(runtime, order_ref),
    ]


def order_ref_model(orders: list[str]) -> type[BaseModel]:
    """`orderType` and `orderId`; `orderType` may be left out when the app has a single order object."""
    listed = ", ".join(orders)
    order_type = Field(orders[0] if len(orders) == 1 else ..., description=f"The kind of order: {listed}.",
                       json_schema_extra={"enum": orders})  # pydantic writes a lone value as `const` only
    return create_model(
        "OrderReference",
        __config__=ConfigDict(extra="forbid"),
        orderType=(Literal[tuple(orders)], order_type),  # type: ignore[valid-type]
        orderId=(RecordId, Field(description="The order's id (a UUID), as the list and get tools show it.")),
    )


def initiate_payment_tool(runtime: Runtime, order_ref: type[BaseModel]) -> ToolSpec:
    pay_pages = f"{runtime.settings.resolved_public_url()}/pay"
    ttl = runtime.settings.pay_link_ttl_seconds
    secret: bytes | None = None

    def signing_key() -> bytes:
        # Read on first use, as the pay page does: without ORDERPAY_PAY_LINK_SECRET in production
        # only payments are refused, while the other tools (and the chat) keep working.
        nonlocal secret
        if secret is None:
            try:
                secret = pay_link_secret(runtime.settings)
            except (RuntimeError, ValueError) as exc:
                raise ServiceUnavailable(f"pay links are not configured on this server: {exc}") from None
        return secret

    action_schema = object_schema({
        "type": {"type": "string", "enum": ["payment"]},
        "orderId": {"type": "string", "format": "uuid"},
        "orderType": {"type": "string"},
        "serviceName": {"type": "string"},
        "amount": {"type": "number", "description": "In major units (10.5 is ten and a half dollars)."},
        "amountMinor": {"type": "integer", "description": "In the currency's minor units, as Stripe charges it."},
        "currency": {"type": "string", "description": "Upper-case ISO 4217 code."},
        "description": {"type": "string"},
        "quote": {**object_schema({
            "amount": {"type": "number"}, "currency": {"type": "string"},
            "version": {"type": "string", "description": "Binds the payment to these terms."},
        }), "description": "What the buyer is shown; the card sends it back with start payment "
                           "(paymentUserParams.quote), which refuses it with 409 once the order changed."},
        "summary": {"type": ["string", "null"], "description": "What the buyer reads on the payment card."},
        "payUrl": {"type": "string", "format": "uri", "description": "The hosted pay page of this one order."},
        "payUrlExpiresAt": {"type": "string", "format": "date-time"},
    })

    async def handler(session: Session, arguments: dict[str, Any]) -> CallToolResult:
        ref = parse_arguments(order_ref, arguments)
        summary = await runtime.payments.checkout_summary(session, ref.orderType, ref.orderId)
        order_id = summary.order["id"]
        now = time.time()
        token = issue_pay_token(signing_key(), user_id=session.user_id, object_name=summary.object_name,
                                order_id=order_id, amount_minor=summary.amount_minor, currency=summary.currency,
                                ttl_seconds=ttl, now=now)
        pay_url = f"{pay_pages}/{token}"
        await runtime.payments.after_sale.prepared(session, summary, tool="initiatePayment", client=tool_caller.get())
        action = {
            "type": "payment",
            "orderId": order_id,
            "orderType": summary.object_name,
            "serviceName": summary.service_name,
            "amount": json_number(summary.amount),  # for display; amountMinor is the exact figure
            "amountMinor": summary.amount_minor,
            "currency": summary.currency,
            "description": summary.description,
            "quote": summary.quote,
            "summary": summary.display_summary,  # the buyer's words for the order (spec displaySummary), or null
            "payUrl": pay_url,
            "payUrlExpiresAt": iso(datetime.fromtimestamp(int(now) + ttl, timezone.utc)),
        }
        prepared = (f"Payment prepared, nothing charged yet: {summary.amount} {summary.currency} for "
                    f"\"{summary.description}\".")
        # A host rendering the card shows the pay link there: the model's text does without it.
        for_model = (f"{prepared} The user pays by clicking Pay on the payment card shown to them. "
                     "Never ask the user for card details.")
        text = (f"{prepared} The user pays by clicking Pay on the payment card, or by opening {pay_url} (valid for "
                f"{_duration(ttl)}). Never ask the user for card details.")
        return ui_tool_result(for_model, {"__frontendAction": action, "message": PAY_MESSAGE}, text_only_fallback=text)

    return ToolSpec(
        name="initiatePayment",
        title="Prepare a payment",
        description=(
            "Prepare the payment of one of the signed-in user's unpaid orders. It never charges anything: it checks "
            "that the order is the user's and still payable, then returns a payment card with a Pay button and a "
            "link to a secure pay page for that order. The money moves only when the user clicks Pay there. Use it "
            "when the user wants to pay; afterwards, getPaymentStatus tells whether the payment went through. "
            "Errors: not found (unknown id, or not the user's), already paid, payment already processing."
        ),
        input_schema=input_schema(order_ref),
        output_schema=object_schema({"__frontendAction": action_schema, "message": {"type": "string"}}),
        # Reads only: the pay link it signs grants nothing the user could not already do.
        annotations=READ_ONLY,
        handler=handler,
        meta={"ui": {"resourceUri": PAYMENT_CARD_URI}},
    )


def payment_status_tool(runtime: Runtime, order_ref: type[BaseModel], *, refresh: bool = False) -> ToolSpec:
    """`getPaymentStatus`, the model's: the payment as last recorded (read-only). With `refresh`,
    `refreshPayment`, the payment card's: asks Stripe first and applies what it says; visible to
    the card only (MCP Apps `visibility: ["app"]`), so a model never polls Stripe through it."""
    read = runtime.payments.refresh_payment if refresh else runtime.payments.payment_state

    async def handler(session: Session, arguments: dict[str, Any]) -> CallToolResult:
        ref = parse_arguments(order_ref, arguments)
        outcome = await read(session, ref.orderType, ref.orderId)
        found = runtime.app.find_object(ref.orderType)
        assert found is not None  # orderType is validated against the spec's order objects
        status_property = found[1].order.orderStatusProperty
        result = outcome.payment_result or {}
        # Picked field by field: the payment result also holds the client secret, which stays here.
        data = {
            "orderType": ref.orderType,
            "orderId": outcome.order["id"],
            PAYMENT_CONFIRMATION: outcome.order[PAYMENT_CONFIRMATION],
            "orderStatus": outcome.order.get(status_property),
            "orderStatusProperty": status_property,
            "paymentStarted": outcome.payment_result is not None,
            "paymentStatus": result.get("paymentStatus"),
            "statusLiteral": result.get("statusLiteral"),
        }
        stripe = f"; Stripe: {data['paymentStatus']}" if data["paymentStarted"] else "; no payment started yet"
        text = (f"{capitalized(words(ref.orderType))} {data['orderId']}: {data[PAYMENT_CONFIRMATION]} "
                f"({status_property}: {data['orderStatus']}{stripe}).")
        return tool_result(text, data)

    nullable_text = {"type": ["string", "null"]}
    fields = (f"`{PAYMENT_CONFIRMATION}` is pending, processing, paid or canceled; `orderStatus` is the order's own "
              "status after the payment; `paymentStatus` is Stripe's (e.g. succeeded, requires_action).")
    if refresh:
        name, title = "refreshPayment", "Refresh payment"
        description = ("Ask Stripe for the latest state of the payment of one of the signed-in user's orders, apply "
                       f"it, and report it. Called by the payment card. {fields}")
        # It writes what Stripe reports onto the order, the same whenever it is called.
        annotations = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                      open_world_hint=True)
        meta: dict[str, Any] | None = {"ui": {"resourceUri": PAYMENT_CARD_URI, "visibility": ["app"]}}
    else:
        name, title = "getPaymentStatus", "Payment status"
        description = ("Tell whether one of the signed-in user's orders is paid, as last recorded (Stripe's webhooks "
                       "and the payment card keep it current). Use it after the user says they paid, or when they "
                       f"ask about a payment. {fields}")
        annotations, meta = READ_ONLY, None
    return ToolSpec(
        name=name,
        title=title,
        description=description,
        input_schema=input_schema(order_ref),
        output_schema=object_schema({
            "orderType": {"type": "string"},
            "orderId": {"type": "string", "format": "uuid"},
            PAYMENT_CONFIRMATION: {"type": "string", "enum": list(PAYMENT_CONFIRMATION_VALUES)},
            "orderStatus": {"description": "The value of the order's status field."},
            "orderStatusProperty": {"type": "string"},
            "paymentStarted": {"type": "boolean"},
            "paymentStatus": nullable_text,
            "statusLiteral": nullable_text,
        }),
        annotations=annotations,
        handler=handler,
        meta=meta,
    )


def saved_cards_tool(runtime: Runtime) -> ToolSpec:
    no_arguments = create_model("NoArguments", __config__=ConfigDict(extra="forbid"))

    async def handler(session: Session, arguments: dict[str, Any]) -> CallToolResult:
        parse_arguments(no_arguments, arguments)
        methods = await runtime.payments.list_payment_methods(session)
        cards = []
        for method in methods:
            info = method.get("cardInfo") or {}
            cards.append({"brand": info.get("brand"), "last4": info.get("last4"),
                          "expMonth": info.get("exp_month"), "expYear": info.get("exp_year"),
                          "usable": info.get("usable", True) is not False})
        listed = "; ".join(
            f"{c['brand']} ending {c['last4']}, expires {c['expMonth']}/{c['expYear']}"
            + ("" if c["usable"] else " (can no longer pay: removed at Stripe; add it again)")
            for c in cards)
        text = f"{len(cards)} saved card(s)" + (f": {listed}." if cards else ".")
        return tool_result(text, {"cards": cards})

    return ToolSpec(
        name="listSavedCards",
        title="Saved cards",
        description=(
            "List the signed-in user's saved cards: brand, last four digits and expiry. Use it to answer questions "
            "about their cards. It cannot pay: the user picks or adds a card themselves on the pay page."
        ),
        input_schema=input_schema(no_arguments),
        output_schema=object_schema({"cards": {"type": "array", "items": object_schema({
            "brand": {"type": ["string", "null"]},
            "last4": {"type": ["string", "null"]},
            "expMonth": {"type": ["integer", "null"]},
            "expYear": {"type": ["integer", "null"]},
            "usable": {"type": "boolean"},
        })}}),
        annotations=READ_ONLY,
        handler=handler,
    )


def request_refund_tool(runtime: Runtime, order_ref: type[BaseModel]) -> ToolSpec:
    """A buyer's refund request, for the merchant to decide on. There is no tool that refunds."""
    fields = {name: (field.annotation, field) for name, field in order_ref.model_fields.items()}
    arguments = create_model(
        "RefundRequestArguments", __config__=ConfigDict(extra="forbid"), **fields,  # type: ignore[call-overload]
        reason=(str, Field(min_length=1, max_length=500, description="Why the user wants their money back, in their words.")),
    )

    async def handler(session: Session, raw: dict[str, Any]) -> CallToolResult:
        ref = parse_arguments(arguments, raw)
        request = await runtime.payments.after_sale.refunds.request(session, ref.orderType, ref.orderId, ref.reason)
        text = (f"Refund request recorded for {words(ref.orderType)} {request['orderId']}: the merchant will review it. "
                "No money has moved; a refund, if granted, is made by the merchant.")
        return tool_result(text, {"refundRequest": {key: request[key] for key in
                                                    ("id", "orderType", "orderId", "reason", "status", "createdAt")}})

    return ToolSpec(
        name="requestRefund",
        title="Ask for a refund",
        description=(
            "Record the signed-in user's request for a refund of one of their paid orders, with their reason, for the "
            "merchant to review. It moves no money and cannot refund anything itself. Asking twice keeps one open "
            "request. Errors: not found (not the user's order), not paid."
        ),
        input_schema=input_schema(arguments),
        output_schema=object_schema({"refundRequest": object_schema({
            "id": {"type": "string"}, "orderType": {"type": "string"}, "orderId": {"type": "string"},
            "reason": {"type": "string"}, "status": {"type": "string", "enum": ["open", "refunded"]},
            "createdAt": {"type": "string", "format": "date-time"},
        })}),
        # Asking again keeps the one open request; it moves no money and reaches no one outside orderpay.
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                    open_world_hint=False),
        handler=handler,
    )


def _duration(seconds: int) -> str:
    return f"{seconds // 60} minutes" if seconds >= 120 else f"{seconds} seconds"
