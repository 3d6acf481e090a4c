"""Verified tokens are trusted again for a short while, never past their expiry, and refused
tokens are never remembered."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderpay import build_runtime
from payment_core.identity import AuthError, Session, VerifiedTokens, find_demo_user
from payment_core.runtime import Runtime
from payment_core.settings import Settings
from tests.support import run_async

@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    instance = build_runtime(Settings(app="airbnb", data_dir=tmp_path))
    yield instance
    run_async(instance.close())


def session(tokens: VerifiedTokens, token: str) -> Session:
    # Synchronous tests: Playwright's sync API may hold this thread's event loop (tests/support.run_async).
    return run_async(tokens.session(token))


def issue(runtime: Runtime, username: str = "alice", **kwargs: float) -> str:
    user = find_demo_user(username)
    assert user is not None and runtime.issuer is not None
    return runtime.issuer.issue(user, **kwargs)  # type: ignore[arg-type]


def count_verifications(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    verify = runtime.verifier.verify

    def counting(token: str):  # type: ignore[no-untyped-def]
        calls.append(token)
        return verify(token)

    monkeypatch.setattr(runtime.verifier, "verify", counting)
    return calls


def test_a_verified_token_is_reused_until_the_cache_age_or_its_expiry(runtime: Runtime,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_verifications(runtime, monkeypatch)
    tokens = VerifiedTokens(runtime.verifier, max_age_seconds=60)
    alice, bob = issue(runtime), issue(runtime, "bob")
    assert session(tokens, alice).user_id == find_demo_user("alice").user_id  # type: ignore[union-attr]
    assert session(tokens, alice).user_id == find_demo_user("alice").user_id  # type: ignore[union-attr]
    assert session(tokens, bob).user_id == find_demo_user("bob").user_id  # type: ignore[union-attr]
    assert calls == [alice, bob]

    # A token about to expire is trusted only until its exp, not for the cache's full minute.
    short = issue(runtime, ttl_seconds=1)
    session(tokens, short)
    time.sleep(1.1)
    session(tokens, short)  # the verifier's leeway still accepts it; the cache did not answer
    assert calls == [alice, bob, short, short]

    expiring = VerifiedTokens(runtime.verifier, max_age_seconds=0)
    session(expiring, alice)
    session(expiring, alice)
    assert calls[-2:] == [alice, alice]


def test_refused_tokens_are_not_remembered_and_the_cache_is_bounded(runtime: Runtime,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_verifications(runtime, monkeypatch)
    tokens = VerifiedTokens(runtime.verifier, max_entries=2)
    expired = issue(runtime, ttl_seconds=60, now=time.time() - 3600)
    for _ in range(2):
        with pytest.raises(AuthError):
            session(tokens, expired)
    assert calls == [expired, expired]

    first, second, third = (issue(runtime, name) for name in ("alice", "bob", "carol"))
    for token in (first, second, third, first):
        session(tokens, token)
    assert calls[2:] == [first, second, third, first]  # the oldest entry made room for the third
