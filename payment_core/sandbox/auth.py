"""API keys: the configured secret key for servers, the configured publishable key only where
Stripe.js may use it. Any other key, however well formed, is refused as Stripe refuses it."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from starlette.requests import Request

from . import errors
from .config import SandboxConfig

NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer "
    "auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details."
)
PUBLISHABLE_REFUSED = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. "
    "You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)


@dataclass(frozen=True)
class Caller:
    publishable: bool


def _key_from_header(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        # `curl -u sk_test_...:` sends the key as the Basic user name.
        try:
            return base64.b64decode(value.strip()).decode().split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def masked(key: str) -> str:
    """Stripe's way of echoing a bad key: its mode prefix and last four characters (`sk_live_****1234`)."""
    parts = key.split("_")
    prefix = "_".join(parts[:2]) + "_" if len(parts) > 2 else ""
    return f"{prefix}****{key[-4:]}"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authenticate(config: SandboxConfig, request: Request, key_param: str | None) -> Caller:
    """Find and check the caller's key; Stripe.js sends its publishable key as the `key` parameter instead of a header."""
    header = request.headers.get("authorization")
    key = _key_from_header(header) if header else None
    if key is None and key_param and key_param.startswith("pk_"):
        key = key_param
    if key is None:
        raise errors.authentication(NO_KEY if not header else "Invalid API Key provided: (malformed Authorization header)")
    if _same(key, config.keys.secret_key):
        return Caller(publishable=False)
    if _same(key, config.keys.publishable_key):
        return Caller(publishable=True)
    raise errors.authentication(f"Invalid API Key provided: {masked(key)}")


def require_secret(caller: Caller) -> None:
    if caller.publishable:
        raise errors.authentication(PUBLISHABLE_REFUSED)
