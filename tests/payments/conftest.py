"""Servers for the payment-flow tests: a real orderpay (uvicorn, real HTTP) on SQLite and on
PostgreSQL, with the offline Stripe sandbox it embeds playing Stripe (webhooks arrive over HTTP).

On PostgreSQL all servers of a test run share the run's database and each drops its app's
tables when it starts, so a test module runs exactly one server at a time (module scope)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.payments.helpers import Buyer, OrderApp, order_app, payment_server
from tests.support import LiveServer


@pytest.fixture(scope="module")
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    """The pattern document's store (seed 002), for the flow's fault and contract tests."""
    yield from payment_server(request, tmp_path_factory, backend, "store")


@pytest.fixture(scope="module")
def store_app() -> OrderApp:
    return order_app("store")


@pytest.fixture
def alice(store: LiveServer, store_app: OrderApp) -> Iterator[Buyer]:
    buyer = Buyer(store, "alice", store_app)
    yield buyer
    buyer.close()


@pytest.fixture
def bob(store: LiveServer, store_app: OrderApp) -> Iterator[Buyer]:
    buyer = Buyer(store, "bob", store_app)
    yield buyer
    buyer.close()


@pytest.fixture
def admin(store: LiveServer, store_app: OrderApp) -> Iterator[Buyer]:
    buyer = Buyer(store, "admin", store_app)
    yield buyer
    buyer.close()
