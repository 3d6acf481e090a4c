"""The request pipeline every /v1 endpoint shares: keys, form parsing, idempotency, expansion, Stripe's JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from . import auth, errors, idempotency, objects
from .errors import StripeError
from .params import Params, check_allowed, get_expand, get_int, get_str, parse_form
from .runtime import Origin, Sandbox
from .store import Store

logger = logging.getLogger("payment_core.sandbox")


def sandbox_base_url(request: Request) -> str:
    """Absolute URL of the sandbox root, honouring the mount prefix (root_path) when embedded in another app."""
    root_path = request.scope.get("root_path", "").rstrip("/")
    return str(request.url.replace(path=root_path, query="", fragment="")).rstrip("/")


def route_path(request: Request) -> str:
    root_path = request.scope.get("root_path", "")
    path = request.scope["path"]
    return path[len(root_path):] if root_path and path.startswith(root_path) else path


@dataclass
class ApiRequest:
    """What a handler gets: parsed parameters, the authenticated caller and where absolute URLs start."""

    sandbox: Sandbox
    params: Params
    path_params: dict[str, str]
    caller: auth.Caller
    origin: Origin
    base_url: str

    @property
    def store(self) -> Store:
        return self.sandbox.store

    def filtered_page(self, type: str, url: str, filter_fields: tuple[str, ...]) -> dict[str, Any]:
        """A list endpoint's answer: only its filters and the paging parameters allowed, each filter
        given an equality match."""
        check_allowed(self.params, (*filter_fields, "limit", "starting_after", "ending_before"))
        filters = {field: value for field in filter_fields if (value := get_str(self.params, field)) is not None}
        return self.page(type, url, filters)

    def page(self, type: str, url: str, filters: dict[str, str]) -> dict[str, Any]:
        """A Stripe list object over stored objects of `type`, newest first, with cursor pagination."""
        limit = get_int(self.params, "limit", minimum=1)
        if limit is not None and limit > 100:
            raise errors.invalid_param("limit", "This value must be less than or equal to 100.")
        data, has_more = self.store.list(
            type,
            filters=filters,
            limit=limit or 10,
            starting_after=get_str(self.params, "starting_after"),
            ending_before=get_str(self.params, "ending_before"),
        )
        return objects.list_object(data, has_more=has_more, url=url)


Handler = Callable[[ApiRequest], dict[str, Any]]


def expand(store: Store, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Replace ids by the objects they name along each dotted path, as Stripe's `expand[]` does."""
    for path in paths:
        _expand_path(store, obj, path.split("."), path)
    return obj


def _expand_path(store: Store, value: Any, segments: list[str], path: str) -> None:
    if isinstance(value, list):
        for item in value:
            _expand_path(store, item, segments, path)
        return
    head, rest = segments[0], segments[1:]
    if not isinstance(value, dict) or head not in value:
        raise errors.invalid_param("expand", f"This property cannot be expanded ({head}).")
    child = value[head]
    if isinstance(child, str):
        found = store.get(child)
        if found is None:
            raise errors.invalid_param("expand", f"This property cannot be expanded ({head}).")
        value[head] = child = found
    if rest and child is not None:
        _expand_path(store, child, rest, path)


def json_response(status: int, body: str, headers: dict[str, str]) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def api_endpoint(sandbox: Sandbox, handler: Handler, *, publishable: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with what Stripe does around every call; `publishable` admits publishable keys."""

    async def endpoint(request: Request) -> Response:
        request_id = objects.new_id("req", 14)
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("stripe-version") or sandbox.api_version,
            "Cache-Control": "no-cache, no-store",
        }
        method = request.method
        path = route_path(request)
        key = request.headers.get("idempotency-key") if method == "POST" else None
        if key:
            headers["Idempotency-Key"] = key
        params: Params = {}
        registered = False
        try:
            params = parse_form(request.url.query)
            if method == "POST":
                params.update(parse_form((await request.body()).decode("utf-8", "replace")))
            caller = auth.authenticate(sandbox.config, request, params.pop("key", None))
            if not publishable:
                auth.require_secret(caller)
            if key:
                idempotency.check_key(key)
                if key in sandbox.in_flight:
                    raise errors.idempotency_in_flight(key)
                saved = idempotency.lookup(sandbox.store, key, method, path, params)
                if saved is not None:
                    replay = {**headers, "Idempotent-Replayed": "true", "Original-Request": saved.request_id}
                    return json_response(saved.status, saved.body, replay)
                sandbox.in_flight.add(key)
                registered = True
            if sandbox.config.latency:  # a Stripe that takes this long to answer
                await anyio.sleep(sandbox.config.latency)
            api_request = ApiRequest(
                sandbox, params, dict(request.path_params), caller, Origin(request_id, key), sandbox_base_url(request)
            )
            with sandbox.store.transaction():
                result = expand(sandbox.store, handler(api_request), get_expand(params))
            status, body = 200, json.dumps(result, indent=2)
        except StripeError as exc:
            status, body = exc.status, json.dumps(exc.body(), indent=2)
            headers.update(exc.headers)
        except Exception:
            # A sandbox bug still answers in Stripe's shape, so the SDK raises its APIError rather than choking.
            logger.exception("sandbox request %s %s failed", method, path)
            failure = StripeError(500, "api_error", "An unknown error occurred in the Stripe sandbox.")
            status, body = 500, json.dumps(failure.body(), indent=2)
        finally:
            if registered:
                sandbox.in_flight.discard(key)
        if registered and key and idempotency.worth_saving(status):
            idempotency.save(sandbox.store, key, method, path, params, status, body, request_id)
        return json_response(status, body, headers)

    return endpoint
