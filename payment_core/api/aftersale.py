"""After-sale routes of each order object: refund (people only), cancel an unpaid order's open
payment (its buyer), the payment's audit trail; and the service's refund requests (admins)."""
from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from payment_core.api.auth import current_session
from payment_core.api.objects import read_json_object
from payment_core.api.responses import envelope_response
from payment_core.identity import Session
from payment_core.objects import MAX_PAGE_NUMBER
from payment_core.payments import PaymentService
from payment_core.payments.service import OrderPayments
from payment_core.spec import ServiceSpec

REFUND_BODY = {"requestBody": {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False,
    "properties": {
        "amount": {"type": "number", "exclusiveMinimum": 0,
                   "description": "Part of the payment to refund, in the order's amount unit; all that is left when absent."},
        "reason": {"type": "string", "maxLength": 500,
                   "description": "duplicate, fraudulent, requested_by_customer, or the merchant's own words."},
        "requestId": {"type": "string", "maxLength": 255,
                      "description": "The client's id of this refund request (or send an Idempotency-Key header): "
                                     "sent again, it is the same refund."},
    },
}}}}}


def aftersale_router(service: ServiceSpec, payments: PaymentService, order: OrderPayments, app_version: str) -> APIRouter:
    obj = order.store.obj
    name, lower = obj.name, obj.name.lower()
    router = APIRouter(prefix=f"{service.route_prefix}/v1", tags=[f"{service.name} / {name} after the sale"])
    order_id = Path(alias=obj.id_param, max_length=100, description=f"The {name}'s id.")
    after_sale = payments.after_sale

    respond = partial(envelope_response, app_version=app_version)

    @router.post(f"/refund{lower}payment/{{{obj.id_param}}}", openapi_extra=REFUND_BODY,
                 summary=f"Refund a paid {name}, fully or partly (superAdmin and the spec's refundRoles only)")
    async def refund(request: Request, object_id: str = order_id, session: Session = Depends(current_session)) -> JSONResponse:
        body = await read_json_object(request) if await request.body() else {}
        updated, record, made = await after_sale.refund(session, name, object_id, body,
                                                        request.headers.get("idempotency-key"))
        return respond(request, "update", name, {name: updated, f"sys_{name}Payment": record, "refund": made})

    @router.post(f"/cancel{lower}payment/{{{obj.id_param}}}",
                 summary=f"Cancel the open payment of an unpaid {name} (its buyer): the intent is cancelled at Stripe")
    async def cancel(request: Request, object_id: str = order_id, session: Session = Depends(current_session)) -> JSONResponse:
        outcome = await after_sale.cancel(session, name, object_id)
        return respond(request, "update", name, {name: outcome.order, "paymentResult": outcome.payment_result})

    @router.get(f"/{lower}paymentaudit/{{{obj.id_param}}}",
                summary=f"The {name}'s payment audit trail (hash-chained); `?format=evidence` for Stripe dispute evidence")
    async def audit(request: Request, object_id: str = order_id, output: str = Query("entries", alias="format",
                                                                                     pattern="^(entries|evidence)$"),
                    session: Session = Depends(current_session)) -> JSONResponse:
        if output == "evidence":
            evidence = await after_sale.evidence(session, name, object_id)
            return respond(request, "get", "disputeEvidence", {"disputeEvidence": evidence})
        _, entries = await after_sale.trail(session, name, object_id)
        return respond(request, "list", f"sys_{name}PaymentAudit", {f"sys_{name}PaymentAudit": entries}, len(entries))

    return router


def refund_request_router(service: ServiceSpec, payments: PaymentService, app_version: str) -> APIRouter:
    router = APIRouter(prefix=f"{service.route_prefix}/v1", tags=[f"{service.name} / after the sale"])

    @router.get("/refundrequests", summary="Buyers' refund requests (administrators), newest first")
    async def requests(request: Request, status: str | None = Query(None, pattern="^(open|refunded)$"),
                       page_number: int = Query(1, alias="pageNumber", ge=1, le=MAX_PAGE_NUMBER),
                       page_rows: int = Query(50, alias="pageRowCount", ge=1, le=500),
                       session: Session = Depends(current_session)) -> JSONResponse:
        rows = await payments.after_sale.refunds.list_requests(session, status=status, limit=page_rows,
                                                               offset=(page_number - 1) * page_rows)
        return envelope_response(request, "list", "sys_refundRequests", {"sys_refundRequests": rows}, len(rows),
                                 app_version=app_version)

    return router
