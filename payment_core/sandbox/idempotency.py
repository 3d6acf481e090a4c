"""Stripe's `Idempotency-Key` rules for POST requests.

- Same key, same endpoint, same parameters: the first response is replayed (`Idempotent-Replayed: true`).
- Same key with other parameters, or on another endpoint: 400 `idempotency_error`. A key belongs to the
  account and is bound to the first endpoint it was used on, as with Stripe.
- Same key while the first request is still executing: 409 `idempotency_key_in_use`.
- Only responses of requests that ran are saved (success, card errors, server errors); a request refused
  for bad parameters or authentication saves nothing, so it can be fixed and retried with the same key.
- Keys expire after 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import errors
from .store import IdempotentResponse, Store

MAX_KEY_LENGTH = 255


def fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH:
        raise errors.invalid_request(
            f"Invalid Idempotency-Key: keys for idempotent requests can be at most {MAX_KEY_LENGTH} characters long."
        )


def lookup(store: Store, key: str, method: str, path: str, params: dict[str, Any]) -> IdempotentResponse | None:
    """The saved response to replay, None for a new key; raises on a key reused for a different request."""
    saved = store.get_idempotent(key)
    if saved is None:
        return None
    if (saved.method, saved.path) != (method, path):
        raise errors.idempotency(
            f"Keys for idempotent requests can only be used for the same endpoint they were first used for "
            f"('{saved.path}' vs '{path}'). Try using a key other than '{key}' if you meant to execute a different request."
        )
    if saved.fingerprint != fingerprint(params):
        raise errors.idempotency(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. "
            f"Try using a key other than '{key}' if you meant to execute a different request."
        )
    return saved


def worth_saving(status: int) -> bool:
    return status < 400 or status == 402 or status >= 500


def save(store: Store, key: str, method: str, path: str, params: dict[str, Any], status: int, body: str, request_id: str) -> None:
    store.save_idempotent(IdempotentResponse(key, method, path, fingerprint(params), status, body, request_id))
