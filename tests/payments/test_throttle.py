"""Card testing looks like a burst of card additions or payment attempts by one user: beyond
`payment_attempts_per_minute` they get 429, and nothing reaches Stripe; other users are unaffected."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from orderpay import build_runtime
from payment_core.payments.throttle import TooManyRequests
from payment_core.runtime import Runtime
from tests.conftest import make_settings

from tests.payments.helpers import (
    DECLINED,
    MASTERCARD,
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
from tests.support import LiveServer, run_async

LIMIT = 3
VISA_DEBIT, DISCOVER = "4000056655665556", "6011111111111117"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    yield from payment_server(request, tmp_path_factory, backend, "store", payment_attempts_per_minute=LIMIT)


@pytest.fixture(scope="module")
def app() -> OrderApp:
    return order_app("store")


def test_a_burst_of_card_additions_is_throttled(server: LiveServer, app: OrderApp) -> None:
    carol, bob = Buyer(server, "carol", app), Buyer(server, "bob", app)
    try:
        for number in (VISA, MASTERCARD, VISA_DEBIT)[:LIMIT]:  # different cards: the same card again is the saved one
            carol.save_card(number)
        extra = new_card(server, DISCOVER)
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


# -- the limit is shared by every replica on the same database ---------------------------

def _runtimes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> list[Runtime]:
    settings = make_settings(request, backend, "store", tmp_path_factory.mktemp(f"throttle-{backend}"),
                             demo_data=False, payment_attempts_per_minute=LIMIT)
    return [build_runtime(settings), build_runtime(settings)]


async def _attempts(runtimes: list[Runtime], user: str, action: str, count: int, *, now: float) -> list[bool]:
    """`count` attempts alternating between the runtimes; True for each one let through."""
    allowed = []
    for n in range(count):
        try:
            await runtimes[n % len(runtimes)].payments.throttle.check(user, action, now=now)
            allowed.append(True)
        except TooManyRequests:
            allowed.append(False)
    return allowed


def test_two_runtimes_on_one_database_share_the_limit(request: pytest.FixtureRequest,
                                                       tmp_path_factory: pytest.TempPathFactory, backend: str) -> None:
    runtimes = _runtimes(request, tmp_path_factory, backend)
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    minute = 60 * (int(time.time()) // 60 + 10)  # a minute of our own, in the future: no other test counts in it

    async def story() -> None:
        for runtime in runtimes:
            await runtime.start()
        try:
            # Alternating replicas, the user gets LIMIT attempts in all, not LIMIT per replica.
            assert await _attempts(runtimes, user, "card", LIMIT + 2, now=minute + 1) == [True] * LIMIT + [False] * 2
            # The limit is per action and per user.
            assert await _attempts(runtimes, user, "payment", 1, now=minute + 2) == [True]
            assert await _attempts(runtimes, other, "card", 1, now=minute + 2) == [True]
            # Half a minute into the next minute, the burst still weighs half: still refused.
            assert await _attempts(runtimes, user, "card", 1, now=minute + 60 + 30) == [False]
            # Two minutes on, the burst is forgotten.
            assert await _attempts(runtimes, user, "card", LIMIT, now=minute + 180) == [True] * LIMIT
        finally:
            for runtime in runtimes:
                await runtime.close()

    run_async(story())


def test_concurrent_attempts_on_two_runtimes_are_all_counted(request: pytest.FixtureRequest,
                                                              tmp_path_factory: pytest.TempPathFactory,
                                                              backend: str) -> None:
    """Twenty attempts at once through two runtimes: exactly LIMIT get through (an atomic upsert, no lost update)."""
    runtimes = _runtimes(request, tmp_path_factory, backend)
    user = str(uuid.uuid4())
    minute = 60 * (int(time.time()) // 60 + 20)

    async def one(runtime: Runtime) -> bool:
        try:
            await runtime.payments.throttle.check(user, "card", now=minute + 5)
            return True
        except TooManyRequests:
            return False

    async def story() -> list[bool]:
        for runtime in runtimes:
            await runtime.start()
        try:
            return await asyncio.gather(*(one(runtimes[n % 2]) for n in range(20)))
        finally:
            for runtime in runtimes:
                await runtime.close()

    assert sum(run_async(story())) == LIMIT
