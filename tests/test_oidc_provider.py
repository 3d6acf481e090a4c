"""The test OpenID provider (tests/oidc) issues tokens orderpay's own verifier accepts: a user who
signs in with the authorization code flow, and a machine client with client credentials."""
from __future__ import annotations

import uuid

import pytest

from payment_core.identity import AuthError, TokenVerifier
from tests.oidc_support import Account, oidc_provider  # noqa: F401 (fixture)

RESOURCE = "http://127.0.0.1:8000/mcp"
REDIRECT = "http://127.0.0.1:8000/callback"


def test_a_buyer_signs_in_and_orderpay_verifies_the_jwt_access_token(oidc_provider) -> None:  # noqa: F811
    ada = Account(email="ada@example.com", name="Ada Lovelace", password="pw")
    idp = oidc_provider(accounts=[ada], clients=[{
        "client_id": "web", "token_endpoint_auth_method": "none",
        "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
    }])

    tokens = idp.sign_in(client_id="web", redirect_uri=REDIRECT, login=ada.email, password="pw", resource=RESOURCE)

    session = TokenVerifier(issuer=idp.issuer, audience=RESOURCE, jwks_url=idp.jwks_url).verify(tokens["access_token"])
    assert (session.user_id, session.email, session.full_name, session.roles) == (
        ada.sub, "ada@example.com", "Ada Lovelace", ("buyer",))
    assert "id_token" in tokens
    # The token was made for the resource it named, and no other audience accepts it.
    with pytest.raises(AuthError) as refused:
        TokenVerifier(issuer=idp.issuer, audience="orderpay", jwks_url=idp.jwks_url).verify(tokens["access_token"])
    assert refused.value.reason == "wrong_audience"


def test_a_wrong_password_does_not_sign_in(oidc_provider) -> None:  # noqa: F811
    ada = Account(email="ada@example.com", password="pw")
    idp = oidc_provider(accounts=[ada], clients=[{
        "client_id": "web", "token_endpoint_auth_method": "none",
        "redirect_uris": [REDIRECT], "grant_types": ["authorization_code"],
    }])
    with pytest.raises(AssertionError, match="Unknown user or wrong password"):
        idp.sign_in(client_id="web", redirect_uri=REDIRECT, login=ada.email, password="nope")


def test_a_client_credentials_token_acts_for_the_client_id_with_a_fixed_audience(oidc_provider) -> None:  # noqa: F811
    client_id = str(uuid.uuid4())
    idp = oidc_provider(audience="orderpay", clients=[{
        "client_id": client_id, "client_secret": "s3cret-s3cret", "grant_types": ["client_credentials"],
        "redirect_uris": [], "response_types": [],
    }])
    token = idp.client_credentials_token(client_id, "s3cret-s3cret", resource=RESOURCE)
    session = TokenVerifier(issuer=idp.issuer, audience="orderpay", jwks_url=idp.jwks_url).verify(token)
    assert session.user_id == client_id
