"""Identity: who is calling, for the REST API, the MCP server and the CLI alike.

Development runs its own issuer (demo users + a local RSA key); production
trusts an external issuer's JWKS. Both end in the same TokenVerifier, so the
code that checks tokens is the code that ships. No web framework is imported
here on purpose: every entry point calls this package directly.
"""

from payment_core.errors import AuthError, AuthErrorReason
from payment_core.identity.cache import VerifiedTokens
from payment_core.identity.keys import SigningKey, load_or_create_signing_key
from payment_core.identity.session import Session
from payment_core.identity.tokens import DevTokenIssuer, TokenVerifier
from payment_core.identity.users import DEMO_USERS, DemoUser, authenticate_demo_user, find_demo_user

__all__ = [
    "DEMO_USERS",
    "AuthError",
    "AuthErrorReason",
    "DemoUser",
    "DevTokenIssuer",
    "Session",
    "SigningKey",
    "TokenVerifier",
    "VerifiedTokens",
    "authenticate_demo_user",
    "find_demo_user",
    "load_or_create_signing_key",
]
