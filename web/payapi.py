"""The pay-link API behind the hosted pay page: `/pay/api/{token}/...`.

Authorised by the pay token, since the buyer may arrive from another MCP client with no
session in this browser. Like a Stripe Payment Link, the token alone only lets someone pay
the link's one order, once, for the link's amount, with a card typed on the page: its card
routes refuse, and start payment accepts only a new card that is charged once and never
saved. The buyer's saved cards (listing, adding, deleting, paying with one) need the buyer's
own session too: `Authorization: Bearer` of the link's user, from signing in on the page.

Every call verifies the token and then acts, as the user it names, on exactly the order it
names, through the same PaymentService the REST API uses — so ownership, throttling and the
exactly-once rules are the REST API's. Refusals use the seeds' error envelope: a bad or
expired link 401, another user's session 403, a link used up or an order paid or repriced 409.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from payment_core import metrics
from payment_core.contract import error_body, ok_body, parse_json_object
from payment_core.errors import BadInput, OrderPayError
from payment_core.identity import Session
from payment_core.money import json_number
from payment_core.paylinks import PayGrant, PayLinkError
from payment_core.payments.service import Click, PaymentOutcome
from payment_core.runtime import Runtime
from payment_core.spec import PAYMENT_CONFIRMATION
from web.headers import page_headers
from web.paygrants import PayGrants, grant_session

# read: the order and its payment's state; pay: start a payment; cards: the buyer's saved cards.
Need = Literal["read", "pay", "cards"]
Action = Callable[[PayGrant, Session, Request, bool], Awaitable[Any]]  # the bool: the buyer signed in


def pay_api_router(runtime: Runtime, grants: PayGrants) -> APIRouter:
    router = APIRouter(prefix="/pay/api/{token}", include_in_schema=False)
    payments = runtime.payments
    headers = page_headers(runtime.stripe, capability_url=True)

    async def handle(request: Request, token: str, need: Need, action: Action) -> JSONResponse:
        """Verify the token (and the buyer's session, if sent), run `action` as its user, answer
        JSON (or the error envelope)."""
        request_id = getattr(getattr(request.state, "context", None), "request_id", None)
        try:
            grant = grants.grant(token)
            buyer = await grants.buyer(grant, request)
            if need == "cards" and buyer is None:
                raise PayLinkError("sign_in_required")
            body = await action(grant, buyer or grant_session(grant), request, buyer is not None)
        except PayLinkError as exc:
            error = error_body(exc.status, exc.message, code=f"pay_link_{exc.reason}", request_id=request_id)
            return JSONResponse(error, exc.status, headers=headers)
        except OrderPayError as exc:
            return JSONResponse(error_body(exc.status, exc.message, code=exc.code, request_id=request_id),
                                exc.status, headers=headers)
        return JSONResponse(body, headers=headers)

    def status_property(grant: PayGrant) -> str:
        return payments.order_payments(grant.object_name).store.obj.order.orderStatusProperty

    def visible_order(grant: PayGrant, order: dict[str, Any]) -> dict[str, Any]:
        """The part of the order the pay page shows: a forwarded link should reveal no more."""
        return {"id": order["id"], PAYMENT_CONFIRMATION: order.get(PAYMENT_CONFIRMATION),
                status_property(grant): order.get(status_property(grant))}

    async def outcome_body(grant: PayGrant, outcome: PaymentOutcome) -> dict[str, Any]:
        await grants.settle(grant, outcome.order)
        return ok_body(200, order=visible_order(grant, outcome.order), paymentResult=outcome.payment_result)

    async def order(grant: PayGrant, session: Session, _: Request, signed_in: bool) -> dict[str, Any]:
        summary = await grants.summary(grant, session)
        return ok_body(
            200, orderType=summary.object_name, serviceName=summary.service_name,
            statusProperty=status_property(grant),
            amount=json_number(summary.amount), currency=summary.currency, description=summary.description,
            summary=summary.display_summary,
            order=visible_order(grant, summary.order), expiresAt=grant.expires_at,
            # what this page may offer: saved cards only to the signed-in buyer, else a card typed here
            savedCards=signed_in,
        )

    async def cards(_: PayGrant, session: Session, __: Request, ___: bool) -> list[dict[str, Any]]:
        return await payments.list_payment_methods(session)

    async def add_card(_: PayGrant, session: Session, request: Request, __: bool) -> dict[str, Any]:
        body = parse_json_object(await request.body())
        return await payments.add_payment_method(session, body.get("paymentMethodId"))

    def delete_card(payment_method_id: str) -> Action:
        async def run(_: PayGrant, session: Session, __: Request, ___: bool) -> dict[str, Any]:
            return await payments.delete_payment_method(session, payment_method_id)
        return run

    async def start(grant: PayGrant, session: Session, request: Request, signed_in: bool) -> dict[str, Any]:
        params = (parse_json_object(await request.body())).get("paymentUserParams")
        if isinstance(params, dict) and params.get("return_url") is not None:
            _require_own_origin(params["return_url"], request, runtime.settings.resolved_public_url())
        summary = await grants.payable(grant, session)
        if isinstance(params, dict):
            # Bound to the price just checked against the link: a change in between is a 409, not a charge.
            params = {**params, "quote": summary.quote}
        click = Click(user_agent=request.headers.get("user-agent"), ip=request.client.host if request.client else None,
                      via="pay_link")
        # Without the buyer's session: a card typed on the page only, charged once, never saved.
        with metrics.payment_start(runtime.app.codename, grant.object_name):
            outcome = await payments.start_payment(session, grant.object_name, grant.order_id, params,
                                                   one_off_card=not signed_in, click=click)
        return await outcome_body(grant, outcome)

    async def refresh(grant: PayGrant, session: Session, _: Request, __: bool) -> dict[str, Any]:
        return await outcome_body(grant, await payments.refresh_payment(session, grant.object_name, grant.order_id))

    @router.get("/order")
    async def get_order(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, "read", order)

    @router.get("/cards")
    async def list_cards(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, "cards", cards)

    @router.post("/cards/add")
    async def post_card(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, "cards", add_card)

    @router.delete("/cards/{payment_method_id}")
    async def remove_card(request: Request, token: str, payment_method_id: str) -> JSONResponse:
        return await handle(request, token, "cards", delete_card(payment_method_id))

    @router.patch("/start")
    async def start_payment(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, "pay", start)

    @router.patch("/refresh")
    async def refresh_payment(request: Request, token: str) -> JSONResponse:
        return await handle(request, token, "read", refresh)

    return router


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _require_own_origin(return_url: Any, request: Request, public_url: str) -> None:
    """3-D Secure returns the buyer, with the payment's client secret in the query, to
    `return_url`: only this server's own pages may receive it."""
    if not isinstance(return_url, str) or _origin(return_url) not in {_origin(str(request.base_url)), _origin(public_url)}:
        raise BadInput("paymentUserParams.return_url: must be a page of this server", field="paymentUserParams.return_url")
