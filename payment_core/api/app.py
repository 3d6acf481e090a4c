"""The REST application: every data object's business API, auth, health and docs."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from payment_core.api.auth import auth_router
from payment_core.api.demo import demo_router
from payment_core.api.errors import install_error_handlers
from payment_core.api.health import health_router
from payment_core.api.metrics import metrics_listener, metrics_router
from payment_core.api.middleware import RequestMiddleware
from payment_core.api.objects import object_router
from payment_core.api.aftersale import aftersale_router, refund_request_router
from payment_core.api.payments import card_router, config_router, payment_router, service_payment_router
from payment_core.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    """The REST API over a built (not yet started) runtime; its lifespan starts and closes it.
    The composition root (`orderpay.py`) builds the runtime and adds the rest of the process."""
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(runtime.running())
            await stack.enter_async_context(metrics_listener(runtime))
            yield

    spec = runtime.app.spec
    app = FastAPI(
        title=f"orderpay — {spec.title or spec.codename}",
        version=spec.version,
        description="Order objects of the app spec with the seeds' REST contract. Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    # Routers are matched in this order, each costing its turn: the data objects' APIs, the busiest,
    # first; the paths of the operational ones after them (`/health/…`, `/auth/…`) cannot clash.
    routers = [object_router(s, spec.version) for s in runtime.stores.values()]
    payments = runtime.payments
    for service in {service.name: service for service, _ in spec.order_objects()}.values():
        routers += [card_router(service, payments), service_payment_router(service, payments, spec.version),
                    refund_request_router(service, payments, spec.version)]
    for order in payments.orders.values():
        routers.append(payment_router(order.store.service, payments, order, spec.version))
        routers.append(aftersale_router(order.store.service, payments, order, spec.version))
        routers.append(demo_router(order, runtime.stripe, spec.version))
    routers += [health_router(), metrics_router(runtime), auth_router(runtime), config_router()]
    for router in routers:
        app.include_router(router)
    app.add_middleware(RequestMiddleware, max_bytes=settings.max_body_bytes,
                       templates=[route.path for r in routers for route in r.routes])
    return app
