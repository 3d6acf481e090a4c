"""The REST application: every data object's business API, auth, health and docs."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from payment_core.api.auth import auth_router
from payment_core.api.errors import install_error_handlers
from payment_core.api.health import health_router
from payment_core.api.middleware import BodyLimitMiddleware, CaseInsensitivePaths, RequestContextMiddleware
from payment_core.api.objects import object_router
from payment_core.runtime import Runtime
from payment_core.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime.create(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    spec = runtime.app.spec
    app = FastAPI(
        title=f"orderpay — {spec.title or spec.codename}",
        version=spec.version,
        description="Order objects of the app spec with the seeds' REST contract. Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    routers = [health_router(), auth_router(runtime), *(object_router(s, spec.version) for s in runtime.stores.values())]
    for router in routers:
        app.include_router(router)
    app.add_middleware(CaseInsensitivePaths, templates=[route.path for r in routers for route in r.routes])
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
