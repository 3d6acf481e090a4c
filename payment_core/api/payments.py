"""The payment routes of seeds 002 and 004: saved cards, start/refresh/callback payment,
the service-wide Stripe webhook, and the payment record APIs."""
from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from payment_core import metrics
from payment_core.api.auth import context_of, current_session
from payment_core.api.objects import read_json_object
from payment_core.api.responses import envelope_response
from payment_core.contract import ok_body, ok_envelope
from payment_core.identity import Session
from payment_core.objects import MAX_PAGE_NUMBER
from payment_core.payments import Click, PaymentService
from payment_core.payments.service import OrderPayments
from payment_core.spec import ServiceSpec

CARD_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["paymentMethodId"], "additionalProperties": False,
    "properties": {"paymentMethodId": {"type": "string", "description": "A Stripe PaymentMethod id (pm_…) created by Stripe.js."}},
}}}}}
START_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["paymentUserParams"],
    "properties": {"paymentUserParams": {
        "type": "object", "required": ["paymentMethodId"], "additionalProperties": False,
        "properties": {
            "paymentMethodId": {"type": "string", "description": "One of the caller's saved cards (pm_…)."},
            "return_url": {"type": "string", "format": "uri", "description": "Where a 3-D Secure redirect comes back to."},
        },
    }},
}}}}}


def card_router(service: ServiceSpec, payments: PaymentService) -> APIRouter:
    """Unversioned saved-card routes; the bare JSON (no envelope) of the seeds."""
    router = APIRouter(prefix=f"{service.route_prefix}/payment-methods", tags=[f"{service.name} / saved cards"])

    @router.get("/list", summary="The caller's saved cards (a bare array)")
    async def list_cards(session: Session = Depends(current_session)) -> JSONResponse:
        return JSONResponse(await payments.list_payment_methods(session))

    @router.post("/add", summary="Save a card created by Stripe.js to the caller's Stripe customer", openapi_extra=CARD_BODY)
    async def add_card(request: Request, session: Session = Depends(current_session)) -> JSONResponse:
        body = await read_json_object(request)
        return JSONResponse(await payments.add_payment_method(session, body.get("paymentMethodId")))

    async def delete_card(payment_method_id: str = Path(alias="paymentMethodId", max_length=255),
                          session: Session = Depends(current_session)) -> JSONResponse:
        return JSONResponse(await payments.delete_payment_method(session, payment_method_id))

    # The seeds document both verbs for this route.
    for method in ("DELETE", "POST"):
        router.add_api_route("/delete/{paymentMethodId}", delete_card, methods=[method],
                             name=f"delete_card_{method.lower()}",
                             operation_id=f"{service.name}_delete_card_{method.lower()}",
                             summary="Remove one of the caller's saved cards (detached from Stripe too)")
    return router


def payment_router(service: ServiceSpec, payments: PaymentService, order: OrderPayments, app_version: str) -> APIRouter:
    obj = order.store.obj
    name, lower = obj.name, obj.name.lower()
    router = APIRouter(prefix=f"{service.route_prefix}/v1", tags=[f"{service.name} / {name} payment"])
    order_id = Path(alias=obj.id_param, max_length=100, description=f"The {name}'s id.")

    respond = partial(envelope_response, app_version=app_version)

    @router.patch(f"/start{lower}payment/{{{obj.id_param}}}", openapi_extra=START_BODY,
                  summary=f"Pay for a {name} with a saved card: create and confirm a Stripe PaymentIntent")
    async def start(request: Request, object_id: str = order_id, session: Session = Depends(current_session)) -> JSONResponse:
        body = await read_json_object(request)
        click = Click(user_agent=request.headers.get("user-agent"), ip=request.client.host if request.client else None)
        with metrics.payment_start(payments.app.codename, name):
            outcome = await payments.start_payment(session, name, object_id, body.get("paymentUserParams"), click=click)
        return respond(request, "update", name, {name: outcome.order, "paymentResult": outcome.payment_result})

    @router.patch(f"/refresh{lower}payment/{{{obj.id_param}}}",
                  summary=f"Fetch the {name}'s payment from Stripe and apply it (polling instead of webhooks)")
    async def refresh(request: Request, object_id: str = order_id, session: Session = Depends(current_session)) -> JSONResponse:
        outcome = await payments.refresh_payment(session, name, object_id)
        return respond(request, "update", name, {name: outcome.order, "paymentResult": outcome.payment_result})

    @router.post(f"/callback{lower}payment/{{{obj.id_param}}}",
                 summary=f"Stripe webhook for one {name} (signed; no bearer token)")
    async def callback(request: Request, object_id: str = order_id) -> JSONResponse:
        outcome = await metrics.webhook_delivery(payments.handle_webhook(
            await request.body(), request.headers.get("stripe-signature"), expected=(name, object_id)))
        return JSONResponse(ok_body(message="Webhook processed successfully", eventId=outcome.event_id,
                                     result=outcome.status))

    records = f"/{lower}payments"
    record_id = Path(alias="id", max_length=100)

    @router.get(f"{records}/{{id}}", summary=f"A {name} payment record by its id")
    async def get_record(request: Request, value: str = record_id, session: Session = Depends(current_session)) -> JSONResponse:
        record = await payments.payment_record(session, name, by="id", value=value)
        return respond(request, "get", f"sys_{name}Payment", {f"sys_{name}Payment": record})

    @router.get(f"/{lower}paymentbyorderid/{{orderId}}", summary=f"A {name}'s payment record")
    async def by_order(request: Request, value: str = Path(alias="orderId", max_length=100),
                       session: Session = Depends(current_session)) -> JSONResponse:
        record = await payments.payment_record(session, name, by="orderId", value=value)
        return respond(request, "get", f"sys_{name}Payment", {f"sys_{name}Payment": record})

    @router.get(f"/{lower}paymentbypaymentid/{{paymentId}}", summary=f"A {name} payment record by Stripe payment id")
    async def by_payment(request: Request, value: str = Path(alias="paymentId", max_length=255),
                         session: Session = Depends(current_session)) -> JSONResponse:
        record = await payments.payment_record(session, name, by="paymentId", value=value)
        return respond(request, "get", f"sys_{name}Payment", {f"sys_{name}Payment": record})

    @router.get(records, summary=f"The caller's {name} payment records")
    async def list_records(request: Request, page_number: int = Query(1, alias="pageNumber", ge=1, le=MAX_PAGE_NUMBER),
                           page_rows: int = Query(50, alias="pageRowCount", ge=1, le=500),
                           session: Session = Depends(current_session)) -> JSONResponse:
        rows = await payments.list_payment_records(session, name, limit=page_rows, offset=(page_number - 1) * page_rows)
        return respond(request, "list", f"sys_{name}Payments", {f"sys_{name}Payments": rows}, len(rows))

    @router.post(records, status_code=201, summary=f"Create the payment record of one of the caller's {name}s")
    async def create_record(request: Request, session: Session = Depends(current_session)) -> JSONResponse:
        record = await payments.create_payment_record(session, name, await read_json_object(request))
        body = ok_envelope(context_of(request), method="POST", action="create", data_name=f"sys_{name}Payment",
                           payload={f"sys_{name}Payment": record}, row_count=1, status_code=201, app_version=app_version)
        return JSONResponse(body, status_code=201)

    @router.patch(f"{records}/{{id}}", summary=f"Update a {name} payment record (its redirectUrl)")
    async def update_record(request: Request, value: str = record_id, session: Session = Depends(current_session)) -> JSONResponse:
        record = await payments.update_payment_record(session, name, value, await read_json_object(request))
        return respond(request, "update", f"sys_{name}Payment", {f"sys_{name}Payment": record})

    @router.delete(f"{records}/{{id}}", summary=f"Delete a {name} payment record")
    async def delete_record(request: Request, value: str = record_id, session: Session = Depends(current_session)) -> JSONResponse:
        record = await payments.delete_payment_record(session, name, value)
        return respond(request, "delete", f"sys_{name}Payment", {f"sys_{name}Payment": record})

    return router


def service_payment_router(service: ServiceSpec, payments: PaymentService, app_version: str) -> APIRouter:
    """Routes of the whole service: its Stripe webhook, payment customers, and the browser's payment config."""
    router = APIRouter(prefix=service.route_prefix, tags=[f"{service.name} / payments"])

    @router.post("/stripe-webhook", summary="The service's Stripe webhook endpoint (signed; no bearer token)")
    async def webhook(request: Request) -> JSONResponse:
        outcome = await metrics.webhook_delivery(
            payments.handle_webhook(await request.body(), request.headers.get("stripe-signature")))
        return JSONResponse(ok_body(eventId=outcome.event_id, result=outcome.status))

    respond = partial(envelope_response, app_version=app_version)

    @router.get("/v1/paymentcustomers/{userId}", summary="A user's Stripe customer (their own, or any for admins)")
    async def customer(request: Request, user_id: str = Path(alias="userId", max_length=100),
                       session: Session = Depends(current_session)) -> JSONResponse:
        record = await payments.payment_customer(session, user_id)
        return respond(request, "get", "sys_paymentCustomer", {"sys_paymentCustomer": record})

    @router.get("/v1/paymentcustomers", summary="All payment customers (administrators)")
    async def customers(request: Request, page_number: int = Query(1, alias="pageNumber", ge=1, le=MAX_PAGE_NUMBER),
                        page_rows: int = Query(50, alias="pageRowCount", ge=1, le=500),
                        session: Session = Depends(current_session)) -> JSONResponse:
        rows = await payments.list_payment_customers(session, limit=page_rows, offset=(page_number - 1) * page_rows)
        return respond(request, "list", "sys_paymentCustomers", {"sys_paymentCustomers": rows}, len(rows))

    @router.get("/v1/paymentcustomermethods", summary="The caller's saved cards, in the envelope")
    async def customer_methods(request: Request, session: Session = Depends(current_session)) -> JSONResponse:
        rows = await payments.list_payment_methods(session)
        return respond(request, "list", "sys_paymentMethods", {"sys_paymentMethods": rows}, len(rows))

    return router


def payment_config(request: Request) -> dict[str, Any]:
    runtime = request.app.state.runtime
    return {"publishableKey": runtime.stripe.publishable_key, "stripeJsUrl": runtime.stripe.stripe_js_url,
            "sandbox": runtime.stripe.embedded_sandbox}


def config_router() -> APIRouter:
    router = APIRouter(tags=["payments"])
    router.add_api_route("/payment-config", payment_config, methods=["GET"],
                         summary="What a browser needs to load Stripe.js: the publishable key and the script URL")
    return router
