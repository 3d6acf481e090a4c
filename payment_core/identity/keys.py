"""The development signing key: one RSA key on disk, shared by every local process."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payment_core.files import private_dir

_KEY_SIZE = 2048
_PUBLIC_EXPONENT = 65537


def _b64url_uint(value: int) -> str:
    """Base64url without padding of a big-endian unsigned integer (RFC 7518 §6.3)."""
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _rsa_thumbprint(n: str, e: str) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself, stable across restarts."""
    # The RFC fixes the members, their order and the absence of whitespace.
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey) -> SigningKey:
        numbers = private_key.public_key().public_numbers()
        kid = _rsa_thumbprint(_b64url_uint(numbers.n), _b64url_uint(numbers.e))
        return cls(kid=kid, private_key=private_key)

    def public_jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        }

    def jwks(self) -> dict[str, Any]:
        """The public key set a TokenVerifier (or a /.well-known/jwks.json route) needs."""
        return {"keys": [self.public_jwk()]}


def load_or_create_signing_key(path: Path) -> SigningKey:
    """Load the PEM key at ``path``, creating it (mode 0600) on first use.

    Reusing the file keeps tokens valid across restarts and lets separate
    processes, such as the server and ``orderpay token``, agree on one key.
    """
    path = Path(path)
    try:
        return _read_signing_key(path)
    except FileNotFoundError:
        pass

    private_dir(path.parent)  # the data dir: owner-only when this creates it
    private_key = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=_KEY_SIZE)
    pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )

    # Two processes may start at once. Write the key in full to a private temp
    # file (mkstemp creates it 0600), then hard-link it into place: the link
    # fails if the name exists, so exactly one key wins and nobody ever reads a
    # half-written file.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(pem)
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return _read_signing_key(path)
    finally:
        os.unlink(tmp_name)
    return SigningKey.from_private_key(private_key)


def _read_signing_key(path: Path) -> SigningKey:
    data = path.read_bytes()
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} holds a {type(private_key).__name__}, expected an RSA private key")
    if private_key.key_size < _KEY_SIZE:
        raise ValueError(f"{path} holds a {private_key.key_size}-bit RSA key; {_KEY_SIZE} bits minimum")
    return SigningKey.from_private_key(private_key)
