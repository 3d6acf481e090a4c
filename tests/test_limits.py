"""Limits every caller meets before anything else runs: a request body over
ORDERPAY_MAX_BODY_BYTES is a 413 on every route (the chat, the sign-in, the REST API),
declared or streamed in chunks; and password guessing on the development sign-in is cut
off at 429 with Retry-After, per user name and per address."""
from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest

from orderpay import create_server
from payment_core.api.login_limit import LoginAttempts, SignInThrottled
from tests.conftest import start_server
from tests.support import LiveServer

LIMIT = 4096


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(request, tmp_path_factory, "sqlite", "airbnb", factory=partial(create_server),
                            demo_data=False, max_body_bytes=LIMIT, login_failures_per_minute=5)


def too_large(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["result"] == "ERR" and body["status"] == 413 and str(LIMIT) in body["message"] and body["date"]
    return body


def chunks(field: str, size: int) -> Iterator[bytes]:
    """A JSON body sent without Content-Length (chunked), `size` bytes of it in one string field."""
    yield f'{{"{field}": "'.encode()
    for _ in range(size // 1000):
        yield b"y" * 1000
    yield b'"}'


ROUTES = [("/api/chat", "message"), ("/api/chat/stream", "message"), ("/auth/login", "username"),
          ("/bookingmanagement-api/v1/reservations", "iCalImportSource")]


@pytest.mark.parametrize(("path", "field"), ROUTES)
def test_a_body_over_the_limit_is_a_413_with_or_without_content_length(server: LiveServer, path: str,
                                                                        field: str) -> None:
    with server.client("bob") as bob:
        declared = json.dumps({field: "x" * 10_000}).encode()
        too_large(bob.post(path, content=declared, headers={"content-type": "application/json"}))
        streamed = bob.post(path, content=chunks(field, 10_000), headers={"content-type": "application/json"})
        assert "content-length" not in streamed.request.headers
        too_large(streamed)
        # a body within the limit is read as usual (here: refused for what it says, not its size)
        small = bob.post(path, content=chunks(field, 1000), headers={"content-type": "application/json"})
        assert small.status_code != 413


def test_nothing_is_created_by_an_oversized_body(server: LiveServer) -> None:
    with server.client("bob") as bob:
        before = bob.get("/bookingmanagement-api/v1/reservations").json()["paging"]["totalRowCount"]
        too_large(bob.post("/bookingmanagement-api/v1/reservations", content=chunks("iCalImportSource", 20_000),
                           headers={"content-type": "application/json"}))
        assert bob.get("/bookingmanagement-api/v1/reservations").json()["paging"]["totalRowCount"] == before


def test_password_guessing_on_the_sign_in_gets_429_with_retry_after(request: pytest.FixtureRequest,
                                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    for own in start_server(request, tmp_path_factory, "sqlite", "store", demo_data=False,
                            login_failures_per_minute=5):
        with httpx.Client(base_url=own.base_url, timeout=30) as client:
            for _ in range(5):
                wrong = client.post("/auth/login", json={"username": "alice", "password": "guess"})
                assert wrong.status_code == 401
            limited = client.post("/auth/login", json={"username": "alice", "password": "alice-pass"})
            assert limited.status_code == 429, limited.text  # even the right password: guessing must not pay
            body = limited.json()
            assert body["result"] == "ERR" and body["status"] == 429 and "sign-in" in body["message"]
            assert 0 < int(limited.headers["retry-after"]) <= 60
            # the same address guessing another user's password is limited too
            assert client.post("/auth/login", json={"username": "bob", "password": "bob-pass"}).status_code == 429
            assert "access_token" not in limited.text


def test_failures_count_per_user_name_and_per_address() -> None:
    attempts = LoginAttempts(5)
    for index in range(5):  # one user name guessed from five addresses
        attempts.check("alice", f"10.0.0.{index}", now=100.0)
        attempts.failed("Alice", f"10.0.0.{index}", now=100.0 + index)
    with pytest.raises(SignInThrottled) as refused:
        attempts.check("alice", "10.0.0.99", now=110.0)
    assert refused.value.retry_after == 50  # the first failure leaves the window at 160
    attempts.check("bob", "10.0.0.99", now=110.0)  # another user from a fresh address is heard
    attempts.check("alice", "10.0.0.99", now=160.0)  # a minute later alice may try again

    for _ in range(5):  # five user names guessed from one address
        attempts.failed(f"user{_}", "192.0.2.1", now=200.0)
    with pytest.raises(SignInThrottled):
        attempts.check("carol", "192.0.2.1", now=201.0)
