"""The business APIs of each data object under `/{service}-api/v1/`, in the seeds' envelope."""
from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from payment_core.api.auth import context_of, current_session
from payment_core.contract import ok_envelope, parse_json_object
from payment_core.errors import BadInput
from payment_core.identity import Session
from payment_core.objects import FILTERABLE, ListQuery, ObjectStore

LIST_PARAMS = ("pageNumber", "pageRowCount", "sort")


async def read_json_object(request: Request) -> dict[str, Any]:
    return parse_json_object(await request.body())


def _body_doc(model: Any) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def object_router(store: ObjectStore, app_version: str) -> APIRouter:
    obj, service = store.obj, store.service
    router = APIRouter(prefix=f"{service.route_prefix}/v1", tags=[f"{service.name} / {obj.name}"])
    collection = f"/{obj.plural.lower()}"
    item = f"{collection}/{{{obj.id_param}}}"
    name, plural = obj.name, obj.plural
    id_param = Path(alias=obj.id_param, max_length=100, description=f"The {name}'s id (a UUID).")

    def respond(request: Request, action: str, payload: dict[str, Any], rows: int, status: int = 200) -> JSONResponse:
        body = ok_envelope(
            context_of(request), method=request.method, action=action, data_name=name if action != "list" else plural,
            payload=payload, row_count=rows, status_code=status, app_version=app_version,
        )
        return JSONResponse(body, status_code=status)

    @router.post(collection, status_code=201, summary=f"Create a {name}", openapi_extra=_body_doc(store.create_model))
    async def create(request: Request, session: Session = Depends(current_session)) -> JSONResponse:
        record = await store.create(session, await read_json_object(request))
        return respond(request, "create", {name: record}, 1, 201)

    @router.get(item, summary=f"Get a {name} by id")
    async def get(request: Request, object_id: str = id_param, session: Session = Depends(current_session)) -> JSONResponse:
        record = await store.get(session, object_id)
        return respond(request, "get", {name: record}, 1)

    @router.patch(item, summary=f"Update a {name}", openapi_extra=_body_doc(store.update_model))
    async def patch(request: Request, object_id: str = id_param, session: Session = Depends(current_session)) -> JSONResponse:
        record = await store.update(session, object_id, await read_json_object(request))
        return respond(request, "update", {name: record}, 1)

    @router.delete(item, summary=f"Delete a {name} (soft: isActive becomes false)")
    async def delete(request: Request, object_id: str = id_param, session: Session = Depends(current_session)) -> JSONResponse:
        record = await store.delete(session, object_id)
        return respond(request, "delete", {name: record}, 1)

    filter_names = [field for field, spec in obj.fields.items() if spec.type in FILTERABLE]

    async def list_objects(request: Request, session: Session = Depends(current_session), **params: Any) -> JSONResponse:
        unknown = sorted(set(request.query_params) - set(LIST_PARAMS) - set(filter_names))
        if unknown:
            raise BadInput(f"{unknown[0]}: is not a filter of {plural}", field=unknown[0])
        query = ListQuery(
            page_number=params["pageNumber"],
            page_row_count=params["pageRowCount"],
            sort=params["sort"],
            filters=tuple((f, params[f]) for f in filter_names if params.get(f) is not None),
        )
        page = await store.list(session, query)
        return respond(request, "list", {plural: page.rows, "paging": page.paging}, len(page.rows))

    # Each filterable field becomes a documented query parameter.
    list_objects.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            inspect.Parameter("session", inspect.Parameter.KEYWORD_ONLY, annotation=Session, default=Depends(current_session)),
            inspect.Parameter("pageNumber", inspect.Parameter.KEYWORD_ONLY, annotation=int, default=Query(1, description="1-based page.")),
            inspect.Parameter("pageRowCount", inspect.Parameter.KEYWORD_ONLY, annotation=int, default=Query(50, description="Rows a page (at most 500).")),
            inspect.Parameter("sort", inspect.Parameter.KEYWORD_ONLY, annotation=str, default=Query("-createdAt", max_length=200, description="Comma-separated fields, `-` for descending.")),
            *[
                inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                                  default=Query(None, max_length=200, description=f"Only rows whose `{f}` equals this."))
                for f in filter_names
            ],
        ]
    )
    router.add_api_route(collection, list_objects, methods=["GET"], summary=f"List your {plural}")
    return router
