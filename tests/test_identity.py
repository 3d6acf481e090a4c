"""The identity package: demo logins, the dev signing key, and token verification.

Development and production share TokenVerifier, so most tests here are about
the tokens an attacker or a misconfigured issuer could send it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from payment_core.identity import (
    DEMO_USERS,
    AuthError,
    DemoUser,
    DevTokenIssuer,
    Session,
    SigningKey,
    TokenVerifier,
    authenticate_demo_user,
    find_demo_user,
    load_or_create_signing_key,
)
from payment_core.identity.jwks import KeySetUnavailable, RemoteKeySet, parse_jwks

ISSUER = "http://localhost:8000"
AUDIENCE = "orderpay"


# --- helpers -----------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def demo(username: str) -> DemoUser:
    user = find_demo_user(username)
    assert user is not None
    return user


def valid_claims(**overrides: Any) -> dict[str, Any]:
    """A claim set the verifier accepts; override a claim, or pass ... to leave it out."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": demo("alice").user_id,
        "email": "alice@example.com",
        "name": "Alice Anderson",
        "roles": ["buyer"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not ...}


def sign_rs256(key: SigningKey, claims: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": kid or key.kid})


def expect_auth_error(verifier: TokenVerifier, token: str, reason: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    error = caught.value
    assert error.reason == reason, error
    # The message goes to clients: one short sentence, nothing internal.
    assert error.message.endswith(".")
    assert len(error.message) < 100
    assert "BEGIN" not in error.message and "Traceback" not in error.message
    return error


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return load_or_create_signing_key(tmp_path_factory.mktemp("keys") / "dev-signing-key.pem")


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return load_or_create_signing_key(tmp_path_factory.mktemp("other") / "other.pem")


@pytest.fixture
def issuer(signing_key: SigningKey) -> DevTokenIssuer:
    return DevTokenIssuer(signing_key, ISSUER, AUDIENCE)


@pytest.fixture
def verifier(signing_key: SigningKey) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=signing_key.jwks())


# --- demo users --------------------------------------------------------------


def test_demo_users_are_alice_bob_carol_and_an_admin() -> None:
    assert [user.username for user in DEMO_USERS] == ["alice", "bob", "carol", "admin"]
    assert demo("admin").roles == ("superAdmin",)
    assert demo("admin").is_super_admin
    assert not demo("alice").is_super_admin


def test_demo_user_ids_are_stable_uuid5s() -> None:
    from payment_core.identity.users import DEMO_USER_NAMESPACE

    for user in DEMO_USERS:
        assert user.user_id == str(uuid.uuid5(DEMO_USER_NAMESPACE, user.username))
        assert user.user_id == str(uuid.UUID(user.user_id))  # lowercase, hyphenated
    assert demo("alice").user_id == "ab9fdf4c-9a49-5c1c-a5cc-b7d5898f0396"


def test_every_demo_user_logs_in_with_the_documented_password() -> None:
    for user in DEMO_USERS:
        assert authenticate_demo_user(user.username, f"{user.username}-pass") == user


def test_login_with_a_wrong_password_is_refused() -> None:
    assert authenticate_demo_user("alice", "bob-pass") is None
    assert authenticate_demo_user("alice", "") is None
    assert authenticate_demo_user("alice", "ALICE-PASS") is None


def test_login_accepts_username_or_email_in_any_case() -> None:
    alice = demo("alice")
    assert authenticate_demo_user("ALICE", "alice-pass") == alice
    assert authenticate_demo_user("Alice@Example.COM", "alice-pass") == alice
    assert find_demo_user("  carol@EXAMPLE.com ") == demo("carol")


def test_login_as_an_unknown_user_is_refused() -> None:
    assert find_demo_user("mallory") is None
    assert authenticate_demo_user("mallory", "mallory-pass") is None
    assert authenticate_demo_user("", "alice-pass") is None


def test_demo_user_repr_never_shows_password_hashes() -> None:
    alice = demo("alice")
    assert alice.password_hash.hex() not in repr(alice)
    assert "password" not in repr(alice)


def test_demo_user_becomes_a_session() -> None:
    session = demo("admin").as_session()
    assert session == Session(
        user_id=demo("admin").user_id,
        email="admin@example.com",
        full_name="Ada Admin",
        roles=("superAdmin",),
    )
    assert session.is_super_admin


# --- the dev signing key -----------------------------------------------------


def test_signing_key_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "signing-key.pem"
    first = load_or_create_signing_key(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.private_key.key_size == 2048
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind

    again = load_or_create_signing_key(path)
    assert again.kid == first.kid
    assert again.private_key.private_numbers() == first.private_key.private_numbers()


def test_tokens_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "signing-key.pem"
    token = DevTokenIssuer(load_or_create_signing_key(path), ISSUER, AUDIENCE).issue(demo("bob"))

    # A new process (e.g. the server after `orderpay token`) loads the same file.
    restarted = load_or_create_signing_key(path)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=restarted.jwks())
    assert verifier.verify(token).user_id == demo("bob").user_id


def test_processes_starting_together_agree_on_one_signing_key(tmp_path: Path) -> None:
    # The server and `orderpay token` may both find no key file and create one at once.
    path = tmp_path / "signing-key.pem"
    start = threading.Barrier(6)
    kids: list[str] = []

    def load() -> None:
        start.wait()
        kids.append(load_or_create_signing_key(path).kid)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(kids) == 6 and len(set(kids)) == 1
    assert load_or_create_signing_key(path).kid == kids[0]
    assert list(tmp_path.iterdir()) == [path]


def test_jwks_publishes_only_the_public_key(signing_key: SigningKey) -> None:
    (jwk,) = signing_key.jwks()["keys"]
    assert jwk["kid"] == signing_key.kid
    assert jwk["alg"] == "RS256"
    assert jwk["use"] == "sig"
    assert jwk["kty"] == "RSA"
    assert "d" not in jwk and "p" not in jwk and "q" not in jwk


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # The example key and thumbprint from RFC 7638 section 3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM"
        "4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    from payment_core.identity.keys import _rsa_thumbprint

    assert _rsa_thumbprint(n, "AQAB") == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_file_that_is_not_an_rsa_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="RSA"):
        load_or_create_signing_key(path)

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(ValueError, match="PEM"):
        load_or_create_signing_key(garbage)


# --- issuing and verifying ---------------------------------------------------


def test_issued_token_verifies_back_to_the_same_user(
    issuer: DevTokenIssuer, verifier: TokenVerifier
) -> None:
    alice = demo("alice")
    session = verifier.verify(issuer.issue(alice))
    assert session == alice.as_session()
    assert not session.is_super_admin


def test_issued_token_carries_the_documented_claims(
    issuer: DevTokenIssuer, signing_key: SigningKey
) -> None:
    token = issuer.issue(demo("admin"), ttl_seconds=120, now=1_700_000_000)

    assert jwt.get_unverified_header(token)["kid"] == signing_key.kid
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == demo("admin").user_id
    assert claims["email"] == "admin@example.com"
    assert claims["name"] == "Ada Admin"
    assert claims["roles"] == ["superAdmin"]
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1_700_000_000, 1_700_000_000, 1_700_000_120)
    assert uuid.UUID(claims["jti"])


def test_a_session_can_be_reissued(issuer: DevTokenIssuer, verifier: TokenVerifier) -> None:
    session = Session(user_id=str(uuid.uuid4()), email="x@example.com", full_name="X", roles=("a", "b"))
    assert verifier.verify(issuer.issue(session)) == session


def test_every_token_gets_its_own_jti(issuer: DevTokenIssuer) -> None:
    first, second = (
        jwt.decode(issuer.issue(demo("bob")), options={"verify_signature": False}) for _ in range(2)
    )
    assert first["jti"] != second["jti"]


def test_missing_optional_claims_default_to_empty(
    signing_key: SigningKey, verifier: TokenVerifier
) -> None:
    token = sign_rs256(signing_key, valid_claims(email=..., name=..., roles=..., nbf=..., iat=...))
    session = verifier.verify(token)
    assert (session.email, session.full_name, session.roles) == ("", "", ())


def test_uppercase_uuid_subject_is_normalised(signing_key: SigningKey, verifier: TokenVerifier) -> None:
    user_id = demo("carol").user_id
    session = verifier.verify(sign_rs256(signing_key, valid_claims(sub=user_id.upper())))
    assert session.user_id == user_id


def test_audience_may_be_a_list(signing_key: SigningKey, verifier: TokenVerifier) -> None:
    token = sign_rs256(signing_key, valid_claims(aud=["another-api", AUDIENCE]))
    assert verifier.verify(token).user_id == demo("alice").user_id


# --- every way a token is refused ---------------------------------------------


@pytest.mark.parametrize("token", ["", "   "])
def test_no_token_is_missing(verifier: TokenVerifier, token: str) -> None:
    expect_auth_error(verifier, token, "missing")


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "a.b", "....", b64url_json({"alg": "RS256"}) + ".e30", "x" * 20_000],
)
def test_garbage_is_malformed(verifier: TokenVerifier, token: str) -> None:
    expect_auth_error(verifier, token, "malformed")


def test_expired_token_is_refused(issuer: DevTokenIssuer, verifier: TokenVerifier) -> None:
    token = issuer.issue(demo("alice"), ttl_seconds=3600, now=time.time() - 7200)
    expect_auth_error(verifier, token, "expired")


def test_recently_expired_token_is_accepted_within_leeway(
    issuer: DevTokenIssuer, verifier: TokenVerifier
) -> None:
    token = issuer.issue(demo("alice"), ttl_seconds=60, now=time.time() - 70)
    assert verifier.verify(token).user_id == demo("alice").user_id


def test_token_from_the_future_is_not_yet_valid(issuer: DevTokenIssuer, verifier: TokenVerifier) -> None:
    token = issuer.issue(demo("alice"), now=time.time() + 3600)
    expect_auth_error(verifier, token, "not_yet_valid")


def test_future_nbf_alone_is_not_yet_valid(signing_key: SigningKey, verifier: TokenVerifier) -> None:
    token = sign_rs256(signing_key, valid_claims(nbf=int(time.time()) + 300))
    expect_auth_error(verifier, token, "not_yet_valid")


def test_token_from_another_issuer_is_refused(signing_key: SigningKey, verifier: TokenVerifier) -> None:
    token = DevTokenIssuer(signing_key, "https://evil.example", AUDIENCE).issue(demo("alice"))
    expect_auth_error(verifier, token, "wrong_issuer")
    expect_auth_error(verifier, sign_rs256(signing_key, valid_claims(iss=...)), "wrong_issuer")


def test_token_for_another_audience_is_refused(signing_key: SigningKey, verifier: TokenVerifier) -> None:
    token = DevTokenIssuer(signing_key, ISSUER, "some-other-api").issue(demo("alice"))
    expect_auth_error(verifier, token, "wrong_audience")
    expect_auth_error(verifier, sign_rs256(signing_key, valid_claims(aud=...)), "wrong_audience")


def test_tampered_payload_is_a_bad_signature(issuer: DevTokenIssuer, verifier: TokenVerifier) -> None:
    header, payload, signature = issuer.issue(demo("alice")).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["superAdmin"]
    expect_auth_error(verifier, f"{header}.{b64url_json(claims)}.{signature}", "bad_signature")


def test_token_signed_by_another_key_under_our_kid_is_a_bad_signature(
    signing_key: SigningKey, other_key: SigningKey, verifier: TokenVerifier
) -> None:
    token = sign_rs256(other_key, valid_claims(), kid=signing_key.kid)
    expect_auth_error(verifier, token, "bad_signature")


def test_token_signed_by_another_key_is_an_unknown_key(
    other_key: SigningKey, verifier: TokenVerifier
) -> None:
    token = DevTokenIssuer(other_key, ISSUER, AUDIENCE).issue(demo("alice"))
    expect_auth_error(verifier, token, "unknown_key")


def test_token_without_kid_is_an_unknown_key(signing_key: SigningKey, verifier: TokenVerifier) -> None:
    token = jwt.encode(valid_claims(), signing_key.private_key, algorithm="RS256")
    expect_auth_error(verifier, token, "unknown_key")


def test_alg_none_is_refused(signing_key: SigningKey, verifier: TokenVerifier) -> None:
    header = b64url_json({"alg": "none", "typ": "JWT", "kid": signing_key.kid})
    token = f"{header}.{b64url_json(valid_claims(roles=['superAdmin']))}."
    expect_auth_error(verifier, token, "bad_signature")


def test_hs256_signed_with_the_public_key_is_refused(
    signing_key: SigningKey, verifier: TokenVerifier
) -> None:
    # The algorithm-confusion attack: the public key is public, so an attacker
    # can HMAC with it and hope the verifier treats it as a shared secret.
    public_pem = signing_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url_json({"alg": "HS256", "typ": "JWT", "kid": signing_key.kid})
    signing_input = f"{header}.{b64url_json(valid_claims())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    expect_auth_error(verifier, f"{signing_input}.{b64url(signature)}", "bad_signature")


def test_es256_header_against_an_rsa_key_is_refused(
    signing_key: SigningKey, verifier: TokenVerifier
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(valid_claims(), ec_key, algorithm="ES256", headers={"kid": signing_key.kid})
    expect_auth_error(verifier, token, "bad_signature")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"sub": ...}, id="no sub"),
        pytest.param({"sub": 42}, id="sub not a string"),
        pytest.param({"sub": "auth0|12345"}, id="sub not a uuid"),
        pytest.param({"roles": "superAdmin"}, id="roles a string"),
        pytest.param({"roles": ["buyer", 1]}, id="roles not all strings"),
        pytest.param({"email": ["a@example.com"]}, id="email not a string"),
        pytest.param({"exp": ...}, id="no exp"),
        pytest.param({"exp": "tomorrow"}, id="exp not a number"),
        pytest.param({"nbf": True}, id="nbf a boolean"),
        pytest.param({"exp": float("inf")}, id="exp infinite"),
    ],
)
def test_bad_claims_are_invalid_claims(
    signing_key: SigningKey, verifier: TokenVerifier, overrides: dict[str, Any]
) -> None:
    expect_auth_error(verifier, sign_rs256(signing_key, valid_claims(**overrides)), "invalid_claims")


def test_payload_that_is_not_an_object_is_malformed(
    signing_key: SigningKey, verifier: TokenVerifier
) -> None:
    token = jwt.api_jws.encode(
        b"[1, 2]", signing_key.private_key, algorithm="RS256", headers={"kid": signing_key.kid}
    )
    expect_auth_error(verifier, token, "malformed")


def test_verifier_refuses_a_confusing_configuration(signing_key: SigningKey) -> None:
    local = signing_key.jwks()
    only_hmac = {"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}
    with pytest.raises(ValueError, match="exactly one"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ValueError, match="exactly one"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=local, jwks_url="http://127.0.0.1/")
    with pytest.raises(ValueError, match="HS256"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=local, algorithms=("RS256", "HS256"))
    with pytest.raises(ValueError, match="no signing key"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=only_hmac)


# --- production: an external issuer's JWKS over HTTP ---------------------------


class ExternalIssuer:
    """An identity provider we do not control, signing ES256 tokens."""

    def __init__(self, issuer: str = "https://idp.example.com/", audience: str = AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.rotate()

    def rotate(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.kid = f"idp-{uuid.uuid4().hex[:8]}"

    def jwk(self) -> dict[str, Any]:
        jwk = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def token(self, **overrides: Any) -> str:
        claims = valid_claims(iss=self.issuer, aud=self.audience, **overrides)
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.kid})


class JWKSServer:
    """A real HTTP server on 127.0.0.1 serving whatever ``document`` currently is."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps(outer.document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def idp() -> ExternalIssuer:
    return ExternalIssuer()


@pytest.fixture
def jwks_server(idp: ExternalIssuer) -> Iterator[JWKSServer]:
    server = JWKSServer()
    server.document = {"keys": [idp.jwk()]}
    yield server
    server.close()


def remote_verifier(idp: ExternalIssuer, url: str, **options: Any) -> TokenVerifier:
    return TokenVerifier(issuer=idp.issuer, audience=idp.audience, jwks_url=url, **options)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_token_from_the_external_issuer_verifies(idp: ExternalIssuer, jwks_server: JWKSServer) -> None:
    verifier = remote_verifier(idp, jwks_server.url)
    session = verifier.verify(idp.token(roles=["superAdmin"]))
    assert session.user_id == demo("alice").user_id
    assert session.is_super_admin


def test_external_keys_are_fetched_once_and_cached(idp: ExternalIssuer, jwks_server: JWKSServer) -> None:
    verifier = remote_verifier(idp, jwks_server.url)
    for _ in range(5):
        verifier.verify(idp.token())
    assert jwks_server.hits == 1


def test_key_rotation_triggers_one_refetch_then_succeeds(
    idp: ExternalIssuer, jwks_server: JWKSServer
) -> None:
    # No cooldown here: we want to see the refetch itself, not the rate limit.
    verifier = remote_verifier(idp, jwks_server.url, jwks_cooldown_seconds=0)
    verifier.verify(idp.token())
    assert jwks_server.hits == 1

    old_jwk = idp.jwk()
    idp.rotate()
    jwks_server.document = {"keys": [old_jwk, idp.jwk()]}

    assert verifier.verify(idp.token()).user_id == demo("alice").user_id
    assert jwks_server.hits == 2
    verifier.verify(idp.token())
    assert jwks_server.hits == 2


def test_unknown_kid_fails_without_refetching_on_every_call(
    idp: ExternalIssuer, jwks_server: JWKSServer
) -> None:
    verifier = remote_verifier(idp, jwks_server.url)
    stranger = ExternalIssuer(issuer=idp.issuer)
    for _ in range(10):
        expect_auth_error(verifier, stranger.token(), "unknown_key")
    assert jwks_server.hits == 1
    # Known keys keep working while bad tokens are being refused.
    assert verifier.verify(idp.token()).user_id == demo("alice").user_id


def test_refused_algorithms_never_reach_the_issuer(idp: ExternalIssuer, jwks_server: JWKSServer) -> None:
    verifier = remote_verifier(idp, jwks_server.url)
    header = b64url_json({"alg": "none", "kid": "made-up"})
    expect_auth_error(verifier, f"{header}.{b64url_json(valid_claims())}.", "bad_signature")
    assert jwks_server.hits == 0


def test_issuer_down_is_issuer_unreachable(idp: ExternalIssuer) -> None:
    down_url = f"http://127.0.0.1:{unused_port()}/jwks.json"
    verifier = remote_verifier(idp, down_url, jwks_timeout_seconds=2)
    error = expect_auth_error(verifier, idp.token(), "issuer_unreachable")
    assert "127.0.0.1" not in error.message


def test_issuer_errors_are_unreachable_and_not_hammered(
    idp: ExternalIssuer, jwks_server: JWKSServer
) -> None:
    jwks_server.status = 503
    verifier = remote_verifier(idp, jwks_server.url)
    for _ in range(5):
        expect_auth_error(verifier, idp.token(), "issuer_unreachable")
    assert jwks_server.hits == 1


def test_issuer_serving_something_else_is_unreachable(
    idp: ExternalIssuer, jwks_server: JWKSServer
) -> None:
    jwks_server.document = {"not": "a jwks"}
    expect_auth_error(remote_verifier(idp, jwks_server.url), idp.token(), "issuer_unreachable")


def test_only_usable_signing_keys_are_taken_from_a_jwks(idp: ExternalIssuer) -> None:
    rsa_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private_ec = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)
    document = {
        "keys": [
            idp.jwk(),
            {"kty": "oct", "kid": "hmac", "k": b64url(b"shared-secret")},
            {**idp.jwk(), "kid": "for-encryption", "use": "enc"},
            {key: value for key, value in idp.jwk().items() if key != "kid"},
            {**private_ec, "kid": "leaked-private-key"},
            {**RSAAlgorithm.to_jwk(rsa_1024.public_key(), as_dict=True), "kid": "short-rsa"},
            {"kty": "RSA", "kid": "broken", "n": "not base64!"},
            "not even an object",
        ]
    }
    assert list(parse_jwks(document, ("RS256", "ES256"))) == [idp.kid]
    assert parse_jwks(document, ("RS256",)) == {}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_remote_key_set_retries_unknown_kids_only_after_the_cooldown(
    idp: ExternalIssuer, jwks_server: JWKSServer
) -> None:
    clock = FakeClock()
    keys = RemoteKeySet(jwks_server.url, algorithms=("ES256",), cooldown_seconds=10, clock=clock)
    assert keys.get(idp.kid) is not None
    assert keys.get("rotated-in-later") is None
    assert jwks_server.hits == 1

    clock.now += 11
    assert keys.get("rotated-in-later") is None
    assert jwks_server.hits == 2


def test_remote_key_set_refreshes_when_the_cache_is_old(
    idp: ExternalIssuer, jwks_server: JWKSServer
) -> None:
    clock = FakeClock()
    keys = RemoteKeySet(jwks_server.url, algorithms=("ES256",), cache_seconds=600, clock=clock)
    keys.get(idp.kid)
    clock.now += 601
    keys.get(idp.kid)
    assert jwks_server.hits == 2


def test_remote_key_set_serves_stale_keys_while_the_issuer_is_down(
    idp: ExternalIssuer, jwks_server: JWKSServer
) -> None:
    clock = FakeClock()
    keys = RemoteKeySet(jwks_server.url, algorithms=("ES256",), cache_seconds=600, clock=clock)
    keys.get(idp.kid)

    jwks_server.status = 500
    clock.now += 601
    assert keys.get(idp.kid) is not None  # an issuer blip should not log everybody out
    with pytest.raises(KeySetUnavailable):
        keys.get("some-new-kid")  # cannot tell whether it is real, so do not call it unknown
    assert jwks_server.hits == 2


def test_identity_package_imports_no_web_framework() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, payment_core.identity; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

