"""Turning a pay token into the grant it carries, and the session that acts on it.

The HMAC key is read on first use, so a deployment without pay links configured
(production without ORDERPAY_PAY_LINK_SECRET) still serves the chat; a pay link
then answers 503 instead of the whole app failing at start-up.
"""
from __future__ import annotations

from payment_core.errors import ServiceUnavailable
from payment_core.identity import Session
from payment_core.paylinks import PayGrant, pay_link_secret, verify_pay_token
from payment_core.settings import Settings


class PayGrants:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._secret: bytes | None = None

    def _key(self) -> bytes:
        if self._secret is None:
            try:
                self._secret = pay_link_secret(self._settings)
            except (RuntimeError, ValueError) as exc:
                raise ServiceUnavailable(f"pay links are not configured on this server: {exc}") from None
        return self._secret

    def grant(self, token: str) -> PayGrant:
        """The grant of a valid token; `PayLinkError` when it is malformed, tampered with or expired."""
        return verify_pay_token(self._key(), token)


def grant_session(grant: PayGrant) -> Session:
    """The buyer as the token names them: a plain user (no roles), so the grant never
    reaches further than that user's own records."""
    return Session(user_id=grant.user_id, email="", full_name="", roles=())
