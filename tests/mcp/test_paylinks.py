"""Pay link tokens: bound to one user, one order and its price, expiring, each its own link (a nonce),
refused when tampered with."""
from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from pathlib import Path

import pytest

from payment_core.paylinks import (
    DEFAULT_TTL_SECONDS,
    PayGrant,
    PayLinkError,
    issue_pay_token,
    pay_link_secret,
    verify_pay_token,
)
from payment_core.settings import Settings

SECRET = b"s" * 32
USER, ORDER = str(uuid.uuid4()), str(uuid.uuid4())
NOW = 1_800_000_000.0


def issue(secret: bytes = SECRET, **overrides: object) -> str:
    arguments: dict[str, object] = {"user_id": USER, "object_name": "reservation", "order_id": ORDER,
                                    "amount_minor": 42050, "currency": "USD", "now": NOW}
    return issue_pay_token(secret, **{**arguments, **overrides})  # type: ignore[arg-type]


def reason(token: str, *, secret: bytes = SECRET, now: float = NOW) -> str:
    with pytest.raises(PayLinkError) as refused:
        verify_pay_token(secret, token, now=now)
    return refused.value.reason


def test_a_token_grants_paying_its_order_as_its_user_for_its_price_until_it_expires() -> None:
    token = issue()
    assert len(token) < 250 and token.isascii() and "/" not in token and "+" not in token
    grant = verify_pay_token(SECRET, token, now=NOW + DEFAULT_TTL_SECONDS - 1)
    assert grant == PayGrant(USER, "reservation", ORDER, 42050, "USD", int(NOW) + DEFAULT_TTL_SECONDS, grant.nonce,
                             int(NOW))
    grant.require_order("reservation", ORDER.upper())
    grant.require_price(42050, "usd")
    for amount, currency in ((77700, "USD"), (42050, "EUR"), (42049, "USD")):
        with pytest.raises(PayLinkError) as refused:
            grant.require_price(amount, currency)
        assert refused.value.reason == "changed"


def test_each_link_is_its_own_even_for_the_same_order_and_second() -> None:
    first, second = verify_pay_token(SECRET, issue(), now=NOW), verify_pay_token(SECRET, issue(), now=NOW)
    assert first.nonce != second.nonce and len(first.nonce) == 16


def test_expired_tokens_are_refused() -> None:
    assert reason(issue(), now=NOW + DEFAULT_TTL_SECONDS) == "expired"
    assert reason(issue(ttl_seconds=1), now=NOW + 1) == "expired"


def test_a_token_for_another_order_is_refused() -> None:
    grant = verify_pay_token(SECRET, issue(), now=NOW)
    with pytest.raises(PayLinkError) as refused:
        grant.require_order("reservation", str(uuid.uuid4()))
    assert refused.value.reason == "other_order"
    with pytest.raises(PayLinkError):
        grant.require_order("order", ORDER)


def test_tampered_tokens_are_refused() -> None:
    token = issue()
    payload, tag = token.split(".")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    for forged_payload in (decoded.replace(ORDER.encode(), str(uuid.uuid4()).encode()),
                           decoded.replace(USER.encode(), str(uuid.uuid4()).encode()),
                           decoded.replace(str(int(NOW) + DEFAULT_TTL_SECONDS).encode(), b"9999999999"),
                           decoded.replace(b".42050.", b".100.")):
        forged = base64.urlsafe_b64encode(forged_payload).rstrip(b"=").decode()
        assert reason(f"{forged}.{tag}") == "tampered"
    flipped = tag[:-2] + ("A" if tag[-2] != "A" else "B") + tag[-1]
    assert reason(f"{payload}.{flipped}") == "tampered"
    assert reason(token, secret=b"t" * 32) == "tampered"
    assert reason(f"{payload}.{issue(order_id=str(uuid.uuid4())).split('.')[1]}") == "tampered"


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "a.b.c", "a.b", "a b.c", "é.x", "a.b==",
                                   "A" * 600 + ".x"])
def test_malformed_tokens_are_refused(token: str) -> None:
    assert reason(token) == "malformed"


def test_a_signed_payload_of_another_format_is_refused() -> None:
    def signed(payload: bytes) -> str:
        tag = hmac.new(SECRET, payload, hashlib.sha256).digest()
        return f"{base64.urlsafe_b64encode(payload).decode().rstrip('=')}.{base64.urlsafe_b64encode(tag).decode().rstrip('=')}"

    later = int(NOW) + 60
    # a version-1 link (bound to no amount) and a version-2 one (no issue time) no longer pay anything
    assert reason(signed(f"1.{later}.{USER}.reservation.{ORDER}".encode())) == "malformed"
    assert reason(signed(f"2.{later}.{USER}.reservation.{ORDER}.100.USD.n".encode())) == "malformed"
    assert reason(signed(f"3.soon.{USER}.reservation.{ORDER}.100.USD.n.{int(NOW)}".encode())) == "malformed"
    assert reason(signed(f"3.{later}.{USER}.reservation.{ORDER}.1.5.USD.n.{int(NOW)}".encode())) == "malformed"
    assert reason(signed(f"3.{later}.{USER}.reservation.{ORDER}.100.usd.n.{int(NOW)}".encode())) == "malformed"
    assert reason(signed(f"3.{later}.{USER}.reservation.{ORDER}.100.USD..{int(NOW)}".encode())) == "malformed"
    assert reason(signed(f"3.{later}.{USER}.reservation.{ORDER}.100.USD.n.now".encode())) == "malformed"
    assert verify_pay_token(SECRET, signed(f"3.{later}.{USER}.reservation.{ORDER}.100.USD.n.{int(NOW)}".encode()),
                            now=NOW)


def test_issuing_checks_its_inputs() -> None:
    with pytest.raises(ValueError):
        issue(secret=b"short")
    with pytest.raises(ValueError):
        issue(order_id="a.b")
    with pytest.raises(ValueError):
        issue(ttl_seconds=0)
    with pytest.raises(ValueError):
        issue(amount_minor=-1)
    with pytest.raises(ValueError):
        issue(currency="usd")


def test_the_development_secret_is_derived_from_the_signing_key(tmp_path: Path) -> None:
    first = pay_link_secret(Settings(data_dir=tmp_path / "a"))
    assert first == pay_link_secret(Settings(data_dir=tmp_path / "a"))  # every local process agrees
    assert first != pay_link_secret(Settings(data_dir=tmp_path / "b"))
    assert len(first) == 32


def test_a_configured_secret_is_used_and_production_requires_one(tmp_path: Path) -> None:
    configured = "x" * 40
    assert pay_link_secret(Settings(data_dir=tmp_path, pay_link_secret=configured)) == configured.encode()
    assert pay_link_secret(Settings(data_dir=tmp_path, environment="production", pay_link_secret=configured))
    with pytest.raises(ValueError):
        pay_link_secret(Settings(data_dir=tmp_path, pay_link_secret="too short"))
    with pytest.raises(RuntimeError):
        pay_link_secret(Settings(data_dir=tmp_path, environment="production"))
    assert not (tmp_path / "dev-signing-key.pem").exists()
