"""`GET /metrics`: Prometheus text, never public in production.

Who may read it:
- `ORDERPAY_METRICS_ADDRESS` set: only a separate listener on that address serves it (bind it
  to a private interface); the main port answers 404.
- `ORDERPAY_METRICS_TOKEN` set: `Authorization: Bearer <token>` is required (401 otherwise),
  on whichever port serves it.
- neither: development serves it to loopback clients only; production serves none (404).
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4  # understood by every Prometheus

from payment_core import metrics
from payment_core.contract import error_body
from payment_core.runtime import Runtime

log = logging.getLogger("orderpay.metrics")


def metrics_router(runtime: Runtime, *, separate_listener: bool = False) -> APIRouter:
    """The route; `separate_listener`: for the app on `ORDERPAY_METRICS_ADDRESS`."""
    router = APIRouter(include_in_schema=False)
    settings = runtime.settings

    @router.get("/metrics")
    async def scrape(request: Request) -> Response:
        if settings.metrics_address and not separate_listener:
            return _refused(404, "not_found", "Not Found")
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        if token:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                return _refused(401, "unauthorized", "Metrics need `Authorization: Bearer <ORDERPAY_METRICS_TOKEN>`",
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        elif not separate_listener and (settings.environment == "production" or not _loopback(request)):
            return _refused(404, "not_found", "Not Found")
        return Response(metrics.render(await _runtime_families(runtime)), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return router


async def _runtime_families(runtime: Runtime) -> list[metrics.Metric]:
    try:
        backlog = await asyncio.wait_for(runtime.relay.backlog(), timeout=5)
    except Exception as exc:  # the database away: the process's own numbers are still worth reading
        log.warning("outbox backlog unavailable for metrics", extra={"error": f"{type(exc).__name__}: {exc}"})
        backlog = None
    return metrics.relay_families(runtime.app.codename, runtime.relay.stats, backlog)


def _loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _refused(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, code=code), status_code=status, headers=headers)


@asynccontextmanager
async def metrics_listener(runtime: Runtime) -> AsyncIterator[None]:
    """Serve /metrics on `ORDERPAY_METRICS_ADDRESS` while the body runs (nothing when unset).
    In the main process's event loop, so the scrape reads the same objects the app uses."""
    address = runtime.settings.metrics_address
    if not address:
        yield
        return
    host, _, port = address.rpartition(":")
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(metrics_router(runtime, separate_listener=True))
    server = uvicorn.Server(uvicorn.Config(app, host=host.strip("[]") or "127.0.0.1", port=int(port),
                                           log_config=None, lifespan="off"))
    # `_serve`, not `serve`: the main server owns the process's signal handlers.
    task = asyncio.create_task(server._serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # the bind failed: raise it, the operator asked for this listener
        raise RuntimeError(f"the metrics listener on {address} stopped at once")
    try:
        yield
    finally:
        server.should_exit = True
        await task
