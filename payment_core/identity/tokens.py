"""Issuing development tokens and verifying bearer tokens from any issuer."""

from __future__ import annotations

import copy
import json
import math
import time
import uuid
from typing import Any

import jwt

from payment_core.errors import AuthError
from payment_core.identity.jwks import KeySetUnavailable, RemoteKeySet, parse_jwks
from payment_core.identity.keys import SigningKey
from payment_core.identity.session import Session
from payment_core.identity.users import DemoUser


# Symmetric algorithms are excluded on purpose: with them a verifier's public
# key would double as the secret, which is the classic algorithm-confusion hole.
_ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

# Real tokens are well under 4 KiB; refusing huge ones early keeps parsing cheap.
_MAX_TOKEN_LENGTH = 16 * 1024


class DevTokenIssuer:
    """Signs tokens for demo users, standing in for a real identity provider in development."""

    def __init__(self, key: SigningKey, issuer: str, audience: str, ttl_seconds: int = 3600) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(
        self,
        user: DemoUser | Session,
        *,
        ttl_seconds: int | None = None,
        now: float | None = None,
    ) -> str:
        """An RS256 JWT for ``user``; ``now`` lets tests mint already-expired or future tokens."""
        ttl = self.ttl_seconds if ttl_seconds is None else ttl_seconds
        if ttl <= 0:
            raise ValueError("ttl_seconds must be positive")
        issued_at = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user.user_id,
            "email": user.email,
            "name": user.full_name,
            "roles": list(user.roles),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + ttl,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.key.private_key, algorithm="RS256", headers={"kid": self.key.kid})


class TokenVerifier:
    """Turns a bearer token into a Session, or raises AuthError saying why not.

    Development passes ``jwks`` (the local SigningKey's key set); production
    passes ``jwks_url`` so keys come from the external issuer and follow its
    rotations. The ``jwks_*`` tuning arguments only apply to ``jwks_url``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | tuple[str, ...],
        jwks: dict[str, Any] | None = None,
        jwks_url: str | None = None,
        leeway_seconds: int = 30,
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        jwks_timeout_seconds: float = 5.0,
        jwks_cache_seconds: float = 600.0,
        jwks_cooldown_seconds: float = 10.0,
    ) -> None:
        if (jwks is None) == (jwks_url is None):
            raise ValueError("pass exactly one of jwks or jwks_url")
        if not issuer or not audience:
            raise ValueError("issuer and audience must be non-empty")
        if not algorithms:
            raise ValueError("algorithms must not be empty")
        refused = set(algorithms) - _ASYMMETRIC_ALGORITHMS
        if refused:
            raise ValueError(f"unsupported or symmetric algorithms: {', '.join(sorted(refused))}")

        self.issuer = issuer
        # A token is accepted when its `aud` names any of these (RFC 7519 section 4.1.3).
        self.audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        self.audience = self.audiences[0]
        self.leeway_seconds = leeway_seconds
        self.algorithms = tuple(algorithms)
        self._local_keys: dict[str, jwt.PyJWK] = {}
        self._remote_keys: RemoteKeySet | None = None
        if jwks is not None:
            # A broken local key set is a configuration bug: fail at startup, not per request.
            self._local_keys = parse_jwks(jwks, self.algorithms)
            if not self._local_keys:
                usable = ", ".join(self.algorithms)
                raise ValueError(f"jwks contains no signing key usable with {usable}")
        elif jwks_url is not None:
            self._remote_keys = RemoteKeySet(
                jwks_url,
                algorithms=self.algorithms,
                timeout_seconds=jwks_timeout_seconds,
                cache_seconds=jwks_cache_seconds,
                cooldown_seconds=jwks_cooldown_seconds,
            )

    def for_audiences(self, *audiences: str) -> TokenVerifier:
        """The same issuer and keys (one JWKS cache), accepting these audiences instead."""
        if not audiences or not all(audiences):
            raise ValueError("audiences must be non-empty")
        other = copy.copy(self)
        other.audiences, other.audience = tuple(audiences), audiences[0]
        return other

    def verify(self, token: str) -> Session:
        """Check signature, issuer, audience, lifetime and claims; return who the caller is.

        Synchronous on purpose: with cached keys it is pure CPU work. With
        ``jwks_url`` the first call, and a rare refresh, makes an HTTP request.
        """
        if not token or not token.strip():
            raise AuthError("missing", "No bearer token was provided.")
        if len(token) > _MAX_TOKEN_LENGTH:
            raise AuthError("malformed", "The token is too large.")

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("malformed", "The token is not a well-formed JWT.") from None

        # Checked before any key lookup so tokens we would refuse anyway
        # (alg "none", HS256, ...) can never trigger a JWKS fetch.
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise AuthError("malformed", "The token header has no algorithm.")
        if alg not in self.algorithms:
            raise AuthError("bad_signature", "The token is not signed with an accepted algorithm.")
        kid = header.get("kid")
        if not kid:
            raise AuthError("unknown_key", "The token does not say which key signed it.")

        key = self._find_key(kid)
        if key is None:
            raise AuthError("unknown_key", "The token was signed with a key this service does not know.")

        # PyJWT checks only the signature here; the claims are checked below
        # because jwt.decode reports a mistyped exp or nbf as DecodeError, which
        # would blur "malformed" and "invalid_claims" for the client.
        try:
            # The PyJWK carries its own algorithm; PyJWT refuses a token whose
            # header names a different one (e.g. ES256 against an RSA key).
            signed = jwt.api_jws.decode_complete(token, key=key, algorithms=list(self.algorithms))
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            raise AuthError("bad_signature", "The token signature is not valid.") from None
        except jwt.PyJWTError:
            raise AuthError("malformed", "The token is not a well-formed JWT.") from None

        try:
            claims = json.loads(signed["payload"])
        except (ValueError, RecursionError):
            raise AuthError("malformed", "The token payload is not valid JSON.") from None
        if not isinstance(claims, dict):
            raise AuthError("malformed", "The token payload is not a JSON object.")

        self._check_issuer_and_audience(claims)
        self._check_lifetime(claims)
        return _session_from_claims(claims)

    def _find_key(self, kid: str) -> jwt.PyJWK | None:
        if self._remote_keys is None:
            return self._local_keys.get(kid)
        try:
            return self._remote_keys.get(kid)
        except KeySetUnavailable:
            raise AuthError(
                "issuer_unreachable", "The identity provider could not be reached; try again shortly."
            ) from None

    def _check_issuer_and_audience(self, claims: dict[str, Any]) -> None:
        if claims.get("iss") != self.issuer:
            raise AuthError(
                "wrong_issuer", "The token comes from an issuer this service does not trust."
            )
        # RFC 7519 allows aud to be a single string or a list of strings.
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not any(a in audiences for a in self.audiences):
            raise AuthError("wrong_audience", "The token was issued for a different audience.")

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        now = time.time()
        expires_at = _numeric_claim(claims, "exp")
        not_before = _numeric_claim(claims, "nbf")
        issued_at = _numeric_claim(claims, "iat")
        # A token without an expiry would be valid forever, so exp is required.
        if expires_at is None:
            raise AuthError("invalid_claims", 'The token has no "exp" claim.')
        if expires_at <= now - self.leeway_seconds:
            raise AuthError("expired", "The token has expired.")
        for starts_at in (not_before, issued_at):
            if starts_at is not None and starts_at > now + self.leeway_seconds:
                raise AuthError("not_yet_valid", "The token is not valid yet.")


def _numeric_claim(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int subclass, and json.loads accepts NaN/Infinity; neither is a timestamp.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AuthError("invalid_claims", f'The token "{name}" claim is not a number.')
    return float(value)


def _session_from_claims(claims: dict[str, Any]) -> Session:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError("invalid_claims", 'The token has no "sub" claim.')
    try:
        # Normalised so the same user always maps to the same user_id string.
        user_id = str(uuid.UUID(subject))
    except ValueError:
        raise AuthError("invalid_claims", 'The token "sub" claim is not a UUID.') from None

    roles = claims.get("roles")
    if roles is None:
        roles = []
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise AuthError("invalid_claims", 'The token "roles" claim is not a list of strings.')

    return Session(
        user_id=user_id,
        email=_optional_string_claim(claims, "email"),
        full_name=_optional_string_claim(claims, "name"),
        roles=tuple(roles),
        session_id=claims["jti"] if isinstance(claims.get("jti"), str) else None,
    )


def _optional_string_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AuthError("invalid_claims", f'The token "{name}" claim is not a string.')
    return value
