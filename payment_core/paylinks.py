"""Pay links: signed, expiring capability tokens for the hosted pay page of one order.

`initiatePayment` hands the buyer a link `/pay/{token}`; whoever opens it may pay
that one order of that one user until the token expires, and nothing else. The
token is `base64url(payload).base64url(HMAC-SHA256(secret, payload))` with the
payload `1.{expires_at}.{user_id}.{object_name}.{order_id}`: short enough for a
URL, checked in constant time, and verified before any part of it is parsed.
The payload is signed, not encrypted: it holds ids, never card data or secrets.

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
import time
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization

from payment_core.identity import load_or_create_signing_key
from payment_core.runtime import signing_key_path
from payment_core.settings import Settings

PayLinkErrorReason = Literal["malformed", "tampered", "expired", "other_order"]

DEFAULT_TTL_SECONDS = 900
MIN_SECRET_BYTES = 32
_VERSION = "1"
_MAX_TOKEN_LENGTH = 512  # real tokens are ~180 characters; refuse huge input before decoding it
_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_DERIVATION_LABEL = b"orderpay pay-link secret v1"


class PayLinkError(Exception):
    """A pay token was refused; `reason` says why, the message is safe to show the buyer."""

    def __init__(self, reason: PayLinkErrorReason) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason = reason
        self.message = _MESSAGES[reason]


_MESSAGES: dict[PayLinkErrorReason, str] = {
    "malformed": "This pay link is not valid.",
    "tampered": "This pay link is not valid.",
    "expired": "This pay link has expired; ask the assistant for a new one.",
    "other_order": "This pay link is for another order.",
}


@dataclass(frozen=True)
class PayGrant:
    """What a valid token allows: paying `order_id` of `object_name` as `user_id` until `expires_at`."""

    user_id: str
    object_name: str
    order_id: str
    expires_at: int  # Unix seconds

    def require_order(self, object_name: str, order_id: str) -> None:
        """Refuse to use this grant for any order but its own."""
        if (object_name, order_id.lower()) != (self.object_name, self.order_id.lower()):
            raise PayLinkError("other_order")


def issue_pay_token(
    secret: bytes,
    *,
    user_id: str,
    object_name: str,
    order_id: str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """A token letting `user_id` pay `order_id` of `object_name` for `ttl_seconds`."""
    _check_secret(secret)
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    for name, value in (("user_id", user_id), ("object_name", object_name), ("order_id", order_id)):
        if not value or "." in value or not value.isprintable():
            raise ValueError(f"{name} must be a non-empty printable string without dots")
    expires_at = int(time.time() if now is None else now) + ttl_seconds
    payload = f"{_VERSION}.{expires_at}.{user_id}.{object_name}.{order_id}".encode()
    return f"{_encode(payload)}.{_encode(_tag(secret, payload))}"


def verify_pay_token(secret: bytes, token: str, *, now: float | None = None) -> PayGrant:
    """The grant a token carries; `PayLinkError` when it is malformed, tampered with or expired."""
    _check_secret(secret)
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
        raise PayLinkError("malformed")
    encoded_payload, dot, encoded_tag = token.partition(".")
    if not dot or not _PART.match(encoded_payload) or not _PART.match(encoded_tag):
        raise PayLinkError("malformed")
    payload, tag = _decode(encoded_payload), _decode(encoded_tag)
    if not hmac.compare_digest(tag, _tag(secret, payload)):
        raise PayLinkError("tampered")
    # Signed by us from here on, so a parse failure means a format change, not an attack.
    parts = payload.decode().split(".")
    if len(parts) != 5 or parts[0] != _VERSION or not parts[1].isdigit():
        raise PayLinkError("malformed")
    _, expires, user_id, object_name, order_id = parts
    if (time.time() if now is None else now) >= int(expires):
        raise PayLinkError("expired")
    return PayGrant(user_id=user_id, object_name=object_name, order_id=order_id, expires_at=int(expires))


def pay_link_secret(settings: Settings) -> bytes:
    """The HMAC key of pay links for these settings (see the module docstring)."""
    if settings.pay_link_secret is not None:
        secret = settings.pay_link_secret.get_secret_value().encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"ORDERPAY_PAY_LINK_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
        return secret
    if settings.environment == "production":
        raise RuntimeError("production needs ORDERPAY_PAY_LINK_SECRET (shared by every replica) to sign pay links")
    key = load_or_create_signing_key(signing_key_path(settings))
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
