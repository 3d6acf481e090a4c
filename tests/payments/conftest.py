"""Servers for the payment-flow tests: a real orderpay (uvicorn, real HTTP) on SQLite and on
PostgreSQL, with the offline Stripe sandbox it embeds playing Stripe (webhooks arrive over HTTP).

On PostgreSQL all servers of a test run share the run's database and each drops its app's
tables when it starts, so a test module runs exactly one server at a time (module scope)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.payments.helpers import Buyer, OrderApp, order_app, payment_server
from tests.payments.stripe_seam import AnswerDroppingProxy, ExternalStripe
from tests.support import LiveServer


@pytest.fixture(scope="module")
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    """The pattern document's store (seed 002), for the flow's fault and contract tests."""
    yield from payment_server(request, tmp_path_factory, backend, "store")


@pytest.fixture(scope="module")
def store_app() -> OrderApp:
    return order_app("store")


@pytest.fixture(scope="module")
def server(store: LiveServer) -> LiveServer:
    """The server the buyers below use; a module testing another one overrides `server` and `app`."""
    return store


@pytest.fixture(scope="module")
def app(store_app: OrderApp) -> OrderApp:
    return store_app


def buyer(server: LiveServer, app: OrderApp, username: str) -> Iterator[Buyer]:
    client = Buyer(server, username, app)
    yield client
    client.close()


@pytest.fixture
def alice(server: LiveServer, app: OrderApp) -> Iterator[Buyer]:
    yield from buyer(server, app, "alice")


@pytest.fixture
def bob(server: LiveServer, app: OrderApp) -> Iterator[Buyer]:
    yield from buyer(server, app, "bob")


@pytest.fixture
def admin(server: LiveServer, app: OrderApp) -> Iterator[Buyer]:
    yield from buyer(server, app, "admin")


# The separate sandbox and the proxy on the hop to it, for the modules that start them
# (`stripe_and_seam`, from `stripe_seam.stripe_behind_a_proxy`, with that module's sandbox settings).
@pytest.fixture(scope="module")
def stripe_service(stripe_and_seam: tuple[ExternalStripe, AnswerDroppingProxy]) -> ExternalStripe:
    return stripe_and_seam[0]


@pytest.fixture(scope="module")
def proxy(stripe_and_seam: tuple[ExternalStripe, AnswerDroppingProxy]) -> AnswerDroppingProxy:
    return stripe_and_seam[1]
