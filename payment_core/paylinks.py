"""Pay links: signed, expiring capability tokens for the hosted pay page of one order.

`initiatePayment` hands the buyer a link `/pay/{token}`. Whoever opens it may pay that one
order of that one user, once, for the amount and currency it was issued for, until it
expires — and, without the buyer's own session, only with a card typed on the page (see
`web/payapi.py`). The token is `base64url(payload).base64url(HMAC-SHA256(secret, payload))`
with the payload `2.{expires_at}.{user_id}.{object_name}.{order_id}.{amount_minor}.{currency}.{nonce}`:
short enough for a URL, checked in constant time, and verified before any part of it is
parsed. The payload is signed, not encrypted: it holds ids and the price, never card data or
secrets. The nonce names this one link: once a payment through it succeeds, the nonce is
written to `sys_paylinkuse` (the database, so every replica refuses it from then on).

The secret is `ORDERPAY_PAY_LINK_SECRET` when set (required in production, where
replicas must agree on it); in development it is derived from the development
signing key, so every local process shares it without another key file.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Uuid, select
from sqlalchemy.exc import IntegrityError

from payment_core.db import Database
from payment_core.errors import PayLinkError
from payment_core.identity import load_or_create_signing_key
from payment_core.clock import utcnow
from payment_core.settings import Settings


DEFAULT_TTL_SECONDS = 900
MIN_SECRET_BYTES = 32
_VERSION = "3"
_MAX_TOKEN_LENGTH = 512  # real tokens are ~230 characters; refuse huge input before decoding it
_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DERIVATION_LABEL = b"orderpay pay-link secret v1"


@dataclass(frozen=True)
class PayGrant:
    """What a valid token allows: paying `order_id` of `object_name` as `user_id`, `amount_minor`
    of `currency` (upper-case ISO code), once, until `expires_at`. `nonce` names the link."""

    user_id: str
    object_name: str
    order_id: str
    amount_minor: int
    currency: str
    expires_at: int  # Unix seconds
    nonce: str
    issued_at: int  # Unix seconds: a cancel after it voids the link, whatever the TTL setting is later

    def require_order(self, object_name: str, order_id: str) -> None:
        """Refuse to use this grant for any order but its own."""
        if (object_name, order_id.lower()) != (self.object_name, self.order_id.lower()):
            raise PayLinkError("other_order")

    def require_price(self, amount_minor: int, currency: str) -> None:
        """Refuse to use this grant once the order's price is not the one it was issued for."""
        if (amount_minor, currency.upper()) != (self.amount_minor, self.currency):
            raise PayLinkError("changed")


def issue_pay_token(
    secret: bytes,
    *,
    user_id: str,
    object_name: str,
    order_id: str,
    amount_minor: int,
    currency: str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """A token letting `user_id` pay `order_id` of `object_name`, `amount_minor` of `currency`, once,
    for `ttl_seconds`."""
    _check_secret(secret)
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    for name, value in (("user_id", user_id), ("object_name", object_name), ("order_id", order_id)):
        if not value or "." in value or not value.isprintable():
            raise ValueError(f"{name} must be a non-empty printable string without dots")
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor < 0:
        raise ValueError("amount_minor must be a non-negative integer")
    if not _CURRENCY.match(currency):
        raise ValueError("currency must be an upper-case ISO 4217 code")
    issued_at = int(time.time() if now is None else now)
    expires_at = issued_at + ttl_seconds
    nonce = secrets.token_urlsafe(12)  # 16 characters of [A-Za-z0-9_-]: never a dot
    payload = (f"{_VERSION}.{expires_at}.{user_id}.{object_name}.{order_id}.{amount_minor}.{currency}.{nonce}"
               f".{issued_at}").encode()
    return f"{_encode(payload)}.{_encode(_tag(secret, payload))}"


def verify_pay_token(secret: bytes, token: str, *, now: float | None = None) -> PayGrant:
    """The grant a token carries; `PayLinkError` when it is malformed, tampered with or expired.
    Whether it was used already, or its order moved on, is for the caller to check against the database."""
    _check_secret(secret)
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
        raise PayLinkError("malformed")
    encoded_payload, dot, encoded_tag = token.partition(".")
    if not dot or not _PART.match(encoded_payload) or not _PART.match(encoded_tag):
        raise PayLinkError("malformed")
    payload, tag = _decode(encoded_payload), _decode(encoded_tag)
    if not hmac.compare_digest(tag, _tag(secret, payload)):
        raise PayLinkError("tampered")
    # Signed by us from here on, so a parse failure means a format change (an older link), not an attack.
    parts = payload.decode().split(".")
    if (len(parts) != 9 or parts[0] != _VERSION or not parts[1].isdigit() or not parts[5].isdigit()
            or not _CURRENCY.match(parts[6]) or not parts[7] or not parts[8].isdigit()):
        raise PayLinkError("malformed")
    _, expires, user_id, object_name, order_id, amount, currency, nonce, issued = parts
    if (time.time() if now is None else now) >= int(expires):
        raise PayLinkError("expired")
    return PayGrant(user_id=user_id, object_name=object_name, order_id=order_id, amount_minor=int(amount),
                    currency=currency, expires_at=int(expires), nonce=nonce, issued_at=int(issued))


def pay_link_use_table(metadata: MetaData) -> Table:
    """One row per pay link that paid its order: the link's nonce is its key, so a link is
    recorded once however many replicas see the payment succeed."""
    if "sys_paylinkuse" in metadata.tables:
        return metadata.tables["sys_paylinkuse"]
    return Table(
        "sys_paylinkuse",
        metadata,
        Column("nonce", String(64), primary_key=True),
        Column("userId", Uuid(as_uuid=True), nullable=False),
        Column("objectName", String(128), nullable=False),
        Column("orderId", Uuid(as_uuid=True), nullable=False),
        Column("amount", BigInteger(), nullable=False),  # minor units
        Column("currency", String(3), nullable=False),
        Column("usedAt", DateTime(timezone=True), nullable=False),
    )


class PayLinkUses:
    """Which pay links have paid their order, kept in the database every replica shares."""

    def __init__(self, db: Database, table: Table) -> None:
        self.db, self.table = db, table

    async def require_unused(self, grant: PayGrant) -> None:
        async with self.db.engine.connect() as conn:
            found = (await conn.execute(select(self.table.c.nonce).where(self.table.c.nonce == grant.nonce))).first()
        if found is not None:
            raise PayLinkError("used")

    async def record(self, grant: PayGrant) -> None:
        """Mark the link used: its order is paid. Recording it twice (two replicas, a retry) is one row."""
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(self.table.insert(), {
                    "nonce": grant.nonce, "userId": uuid.UUID(grant.user_id), "objectName": grant.object_name,
                    "orderId": uuid.UUID(grant.order_id), "amount": grant.amount_minor, "currency": grant.currency,
                    "usedAt": utcnow()})
        except IntegrityError:
            pass  # already recorded


def pay_link_secret(settings: Settings) -> bytes:
    """The HMAC key of pay links for these settings (see the module docstring)."""
    if settings.pay_link_secret is not None:
        secret = settings.pay_link_secret.get_secret_value().encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"ORDERPAY_PAY_LINK_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
        return secret
    if settings.environment == "production":
        raise RuntimeError("production needs ORDERPAY_PAY_LINK_SECRET (shared by every replica) to sign pay links")
    key = load_or_create_signing_key(settings.signing_key_path)
    der = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # A labelled derivation, so the RSA key itself never doubles as an HMAC key.
    return hmac.new(der, _DERIVATION_LABEL, hashlib.sha256).digest()


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the pay link secret must be at least {MIN_SECRET_BYTES} bytes")


def _tag(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PayLinkError("malformed") from None
    if _encode(raw) != text:  # one token, one spelling: unused trailing bits must be zero
        raise PayLinkError("malformed")
    return raw
