"""Card testing looks like a burst of card additions or payment attempts by one user: beyond
`payment_attempts_per_minute` they get 429, and nothing reaches Stripe; other users are unaffected."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.payments.helpers import (
    DECLINED,
    VISA,
    Buyer,
    OrderApp,
    err,
    intents_of,
    new_card,
    ok,
    order_app,
    payment_server,
    stripe_api,
)
from tests.support import LiveServer

LIMIT = 3


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    yield from payment_server(request, tmp_path_factory, backend, "store", payment_attempts_per_minute=LIMIT)


@pytest.fixture(scope="module")
def app() -> OrderApp:
    return order_app("store")


def test_a_burst_of_card_additions_is_throttled(server: LiveServer, app: OrderApp) -> None:
    carol, bob = Buyer(server, "carol", app), Buyer(server, "bob", app)
    try:
        for _ in range(LIMIT):
            carol.save_card(VISA)
        extra = new_card(server, VISA)
        throttled = err(carol.add_card(extra), 429)
        assert throttled["message"]
        assert len(carol.cards()) == LIMIT
        assert stripe_api(server).v1.payment_methods.retrieve(extra).customer is None, "the card never reached the customer"
        bob.save_card(VISA)  # another user is not affected
    finally:
        carol.close()
        bob.close()


def test_a_burst_of_payment_attempts_is_throttled(server: LiveServer, app: OrderApp) -> None:
    alice = Buyer(server, "alice", app)
    try:
        declined = alice.save_card(DECLINED)
        orders = [alice.create_order() for _ in range(LIMIT + 1)]
        for order in orders[:LIMIT]:
            assert ok(alice.pay(order["id"], declined["paymentMethodId"]))["paymentResult"]["result"] == "ERR"
        err(alice.pay(orders[LIMIT]["id"], declined["paymentMethodId"]), 429)
        assert intents_of(server, orders[LIMIT]["id"]) == []
        assert alice.order(orders[LIMIT]["id"]) == orders[LIMIT]
    finally:
        alice.close()
