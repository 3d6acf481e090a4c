"""The pay-link API behind the hosted pay page: `/pay/api/{token}/...`.

Authorised by the pay token alone, since the buyer may arrive from another MCP
client with no session in this browser. Every call verifies the token and then
acts, as the user it names, on exactly the order it names, through the same
PaymentService the REST API uses — so ownership, throttling and the exactly-once
rules are the REST API's. A bad token is a 401 in the seeds' error envelope.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from payment_core.api.envelope import error_body
from payment_core.api.objects import read_json_object
from payment_core.errors import BadInput, OrderPayError
from payment_core.identity import Session
from payment_core.paylinks import PayGrant, PayLinkError
from payment_core.payments.money import json_number
from payment_core.payments.service import CheckoutSummary, PaymentOutcome
from payment_core.runtime import Runtime
from payment_core.spec import PAYMENT_CONFIRMATION
from web.headers import page_headers
from web.paygrants import PayGrants, grant_session

Action = Callable[[PayGrant, Session, Request], Awaitable[Any]]


def pay_api_router(runtime: Runtime, grants: PayGrants) -> APIRouter:
    router = APIRouter(prefix="/pay/api/{token}", include_in_schema=False)
    payments = runtime.payments
    headers = page_headers(runtime.stripe, capability_url=True)

    async def handle(request: Request, token: str, action: Action) -> JSONResponse:
        """Verify the token, run `action` as its user, answer JSON (or the error envelope)."""
        request_id = getattr(getattr(request.state, "context", None), "request_id", None)
        try:
            grant = grants.grant(token)
            body = await action(grant, grant_session(grant), request)
        except PayLinkError as exc:
            error = error_body(401, exc.message, code=f"pay_link_{exc.reason}", request_id=request_id)
            return JSONResponse(error, 401, headers=headers)
        except OrderPayError as exc:
            return JSONResponse(error_body(exc.status, exc.message, code=exc.code, request_id=request_id),
                                exc.status, headers=headers)
        return JSONResponse(body, headers=headers)

    def status_property(grant: PayGrant) -> str:
        return payments.order_payments(grant.object_name).store.obj.order.orderStatusProperty

    def summary_of(grant: PayGrant, record: dict[str, Any]) -> CheckoutSummary:
        return payments.summary_of(payments.order_payments(grant.object_name), record)

    def visible_order(grant: PayGrant, order: dict[str, Any]) -> dict[str, Any]:
        """The part of the order the pay page shows: a forwarded link should reveal no more."""
        return {"id": order["id"], PAYMENT_CONFIRMATION: order.get(PAYMENT_CONFIRMATION),
                status_property(grant): order.get(status_property(grant))}

    def outcome_body(grant: PayGrant, outcome: PaymentOutcome) -> dict[str, Any]:
        return {"status": "OK", "statusCode": "200", "order": visible_order(grant, outcome.order),
                "paymentResult": outcome.payment_result}

    async def order(grant: PayGrant, session: Session, _: Request) -> dict[str, Any]:
        record = await runtime.stores[grant.object_name].get(session, grant.order_id)
        summary = summary_of(grant, record)
        return {
            "status": "OK", "statusCode": "200", "orderType": summary.object_name, "serviceName": summary.service_name,
            "statusProperty": status_property(grant),
            "amount": json_number(summary.amount), "currency": summary.currency, "description": summary.description,
            "order": visible_order(grant, record), "expiresAt": grant.expires_at,
        }

    async def cards(_: PayGrant, session: Session, __: Request) -> list[dict[str, Any]]:
        return await payments.list_payment_methods(session)

    async def add_card(_: PayGrant, session: Session, request: Request) -> dict[str, Any]:
        body = await read_json_object(request)
        return await payments.add_payment_method(session, body.get("paymentMethodId"))

    def delete_card(payment_method_id: str) -> Action:
        async def run(_: PayGrant, session: Session, __: Request) -> dict[str, Any]:
            return await payments.delete_payment_method(session, payment_method_id)
        return run

    async def start(grant: PayGrant, session: Session, request: Request) -> dict[str, Any]:
        params = (await read_json_object(request)).get("paymentUserParams")
        if isinstance(params, dict) and params.get("return_url") is not None:
            _require_own_origin(params["return_url"], request, runtime.settings.resolved_public_url())
        outcome = await payments.start_payment(session, grant.object_name, grant.order_id, params)
        return outcome_body(grant, outcome)

    async def refresh(grant: PayGrant, session: Session, _: Request) -> dict[str, Any]:
        return outcome_body(grant, await payments.refresh_payment(session, grant.object_name, grant.order_id))

    @router.get("/order")
    async def get_order(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, order)

    @router.get("/cards")
    async def list_cards(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, cards)

    @router.post("/cards/add")
    async def post_card(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, add_card)

    @router.delete("/cards/{payment_method_id}")
    async def remove_card(request: Request, token: str, payment_method_id: str) -> JSONResponse:
        return await handle(request, token, delete_card(payment_method_id))

    @router.patch("/start")
    async def start_payment(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, start)

    @router.patch("/refresh")
    async def refresh_payment(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, refresh)

    return router


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _require_own_origin(return_url: Any, request: Request, public_url: str) -> None:
    """3-D Secure returns the buyer, with the payment's client secret in the query, to
    `return_url`: only this server's own pages may receive it."""
    if not isinstance(return_url, str) or _origin(return_url) not in {_origin(str(request.base_url)), _origin(public_url)}:
        raise BadInput("paymentUserParams.return_url: must be a page of this server", field="paymentUserParams.return_url")
