"""Demo users for the development identity provider.

These accounts exist so a fresh checkout can log in, issue tokens and seed
demo data without an external identity provider. Never enable them in
production. Their passwords are public on purpose:

    username  email                password     roles
    alice     alice@example.com    alice-pass   buyer
    bob       bob@example.com      bob-pass     buyer
    carol     carol@example.com    carol-pass   buyer
    admin     admin@example.com    admin-pass   superAdmin

Each ``user_id`` is ``uuid5(DEMO_USER_NAMESPACE, username)``, so demo data
that references these users stays valid across restarts and machines.

Only scrypt hashes of the passwords are stored. To change a password, pick a
new random salt and store ``hash_password(new_password, salt).hex()``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field

from payment_core.identity.session import SUPER_ADMIN_ROLE, Session

# Fixed forever: changing it changes every demo user_id and orphans demo data.
DEMO_USER_NAMESPACE = uuid.UUID("d3198ac0-032f-41a4-b8b7-3220ddb7608b")

# scrypt cost parameters; n=2**14 keeps a login around 50 ms.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_HASH_BYTES = 32


def hash_password(password: str, salt: bytes) -> bytes:
    """scrypt-hash ``password``; the same function builds and checks the stored hashes."""
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=_HASH_BYTES,
    )


@dataclass(frozen=True)
class DemoUser:
    username: str
    email: str
    full_name: str
    roles: tuple[str, ...]
    user_id: str
    # Kept out of repr so hashes never end up in logs or error messages.
    password_salt: bytes = field(repr=False)
    password_hash: bytes = field(repr=False)

    @property
    def is_super_admin(self) -> bool:
        return SUPER_ADMIN_ROLE in self.roles

    def as_session(self) -> Session:
        """The session this user gets after logging in, without a token round trip."""
        return Session(
            user_id=self.user_id,
            email=self.email,
            full_name=self.full_name,
            roles=self.roles,
        )


def _demo_user(
    username: str, full_name: str, roles: tuple[str, ...], salt_hex: str, hash_hex: str
) -> DemoUser:
    return DemoUser(
        username=username,
        email=f"{username}@example.com",
        full_name=full_name,
        roles=roles,
        user_id=str(uuid.uuid5(DEMO_USER_NAMESPACE, username)),
        password_salt=bytes.fromhex(salt_hex),
        password_hash=bytes.fromhex(hash_hex),
    )


DEMO_USERS: tuple[DemoUser, ...] = (
    _demo_user(
        "alice",
        "Alice Anderson",
        ("buyer",),
        "e2f09915d875d0777d5b568b2c2596d2",
        "f8fc51f1d170bb1f09e9ae3c3fe7309adf2a0ecba26a82afdb2802901c78dd97",
    ),
    _demo_user(
        "bob",
        "Bob Brown",
        ("buyer",),
        "3b0485bed3bfec1c1006f3066f6d1016",
        "be3f56102b09b8bbd7471b582b888206ca74ff771818059befae733d42fc959e",
    ),
    _demo_user(
        "carol",
        "Carol Chen",
        ("buyer",),
        "7cc4a485244ef6688d280e41ba42ebbf",
        "c6af72b2d35ace8972f809853d4465f87fccf8a9c46550ef9e9956cf2d6223be",
    ),
    _demo_user(
        "admin",
        "Ada Admin",
        (SUPER_ADMIN_ROLE,),
        "78d79b0cc58581aa9847c372cd6dbe15",
        "54cf32e86e7c0b249f234a1bca4baac0c90166cc0e518a21f301f85b1e1402a2",
    ),
)

# Used when the user does not exist, so an unknown name costs the same scrypt
# work as a wrong password and response time does not reveal which it was.
_UNKNOWN_USER_SALT = bytes(16)
_UNKNOWN_USER_HASH = bytes(_HASH_BYTES)


def find_demo_user(username_or_email: str) -> DemoUser | None:
    """Look a demo user up by username or email, ignoring case and surrounding spaces."""
    wanted = username_or_email.strip().casefold()
    for user in DEMO_USERS:
        if wanted in (user.username.casefold(), user.email.casefold()):
            return user
    return None


def authenticate_demo_user(username_or_email: str, password: str) -> DemoUser | None:
    """Return the demo user if the password matches, else None (never says which part was wrong)."""
    user = find_demo_user(username_or_email)
    if user is None:
        salt, expected = _UNKNOWN_USER_SALT, _UNKNOWN_USER_HASH
    else:
        salt, expected = user.password_salt, user.password_hash
    matches = hmac.compare_digest(hash_password(password, salt), expected)
    if user is None or not matches:
        return None
    return user
