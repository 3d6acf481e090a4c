"""Liveness and readiness probes for process supervisors and load balancers."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from payment_core.db import ping


def health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", summary="The process can serve: its database answers")
    async def ready(request: Request) -> JSONResponse:
        try:
            await ping(request.app.state.runtime.engine)
        except Exception as exc:  # any database failure means "not ready", never a 500
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return router
