"""Public key sets (JWKS): parsing them, and fetching an external issuer's over HTTP."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from payment_core.errors import KeySetUnavailable

logger = logging.getLogger(__name__)

_MIN_RSA_BITS = 2048


def parse_jwks(document: Any, algorithms: Collection[str]) -> dict[str, jwt.PyJWK]:
    """Map kid -> verification key, keeping only keys usable with ``algorithms``.

    Unusable entries (encryption keys, symmetric keys, unknown key types, keys
    without a kid) are skipped rather than fatal: issuers often publish keys
    for other purposes next to their signing keys.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('a JWKS must be a JSON object with a "keys" list')

    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        if "d" in entry:
            # A published private key is an issuer misconfiguration; never verify with it.
            logger.warning("Ignoring JWK %r: it contains private key material", kid)
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            logger.warning("Ignoring JWK %r: not a key this service can use", kid)
            continue
        # Binding each key to its own algorithm is what stops a token from
        # choosing, say, HS256 and having a public key treated as an HMAC secret.
        if key.algorithm_name not in algorithms:
            continue
        if isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size < _MIN_RSA_BITS:
            logger.warning("Ignoring JWK %r: RSA key shorter than %d bits", kid, _MIN_RSA_BITS)
            continue
        keys[kid] = key
    return keys


class RemoteKeySet:
    """An external issuer's JWKS, fetched lazily and cached.

    The cache is refreshed when it is older than ``cache_seconds`` or when a
    token names a kid it does not hold (the issuer may have rotated keys).
    Fetches are at least ``cooldown_seconds`` apart whatever the reason, so a
    stream of tokens with made-up kids, or an issuer that is down, costs the
    issuer one request per cooldown instead of one per token.
    """

    def __init__(
        self,
        url: str,
        *,
        algorithms: Collection[str],
        timeout_seconds: float = 5.0,
        cache_seconds: float = 600.0,
        cooldown_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._algorithms = tuple(algorithms)
        self._timeout = timeout_seconds
        self._cache_seconds = cache_seconds
        self._cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0
        self._last_attempt_at: float | None = None
        self._last_fetch_failed = False
        # Verification may run in a thread pool; one fetch at a time keeps the
        # cooldown honest and avoids a burst of identical requests.
        self._lock = threading.Lock()

    def get(self, kid: str) -> jwt.PyJWK | None:
        """The key for ``kid``, or None if the issuer does not publish it.

        Raises KeySetUnavailable when the key set cannot be fetched and the
        cache cannot answer either.
        """
        with self._lock:
            now = self._clock()
            cached = self._keys
            if cached is not None and kid in cached and now - self._fetched_at < self._cache_seconds:
                return cached[kid]

            if self._may_fetch(now):
                self._last_attempt_at = now
                try:
                    self._keys = self._fetch()
                    self._fetched_at = now
                    self._last_fetch_failed = False
                except KeySetUnavailable:
                    self._last_fetch_failed = True
                    # Keep serving a stale cache for kids it knows: an issuer
                    # blip should not log everybody out.
                    if cached is not None and kid in cached:
                        return cached[kid]
                    raise

            if self._keys is None or (self._last_fetch_failed and kid not in self._keys):
                # Still inside the cooldown after a failed fetch: we cannot
                # tell whether this kid is real, so do not call it unknown.
                raise KeySetUnavailable(f"{self.url} was unreachable; retrying after the cooldown")
            return self._keys.get(kid)

    def _may_fetch(self, now: float) -> bool:
        return self._last_attempt_at is None or now - self._last_attempt_at >= self._cooldown_seconds

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            response = httpx.get(self.url, timeout=self._timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = parse_jwks(response.json(), self._algorithms)
        except (httpx.HTTPError, ValueError) as exc:
            # ValueError covers both a non-JSON body and a JSON body that is not a JWKS.
            logger.warning("Could not fetch JWKS from %s: %s", self.url, exc)
            raise KeySetUnavailable(str(exc)) from exc
        if not keys:
            usable = ", ".join(self._algorithms)
            logger.warning("JWKS at %s has no keys usable with %s", self.url, usable)
        return keys
