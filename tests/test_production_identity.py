"""In production orderpay trusts an external issuer's JWKS: its tokens work, the
development sign-in is gone, and an unreachable issuer is a 503, not a 401."""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from payment_core.identity import DevTokenIssuer, Session, load_or_create_signing_key
from payment_core.settings import Settings
from tests.support import LiveServer, free_port

ISSUER, AUDIENCE = "https://id.example.test/", "orderpay-prod"


@pytest.fixture
def external_issuer(tmp_path: Path) -> Iterator[tuple[DevTokenIssuer, ThreadingHTTPServer]]:
    key = load_or_create_signing_key(tmp_path / "issuer.pem")
    body = json.dumps(key.jwks()).encode()

    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield DevTokenIssuer(key, ISSUER, AUDIENCE), server
    finally:
        server.shutdown()


def production(tmp_path: Path, jwks_url: str) -> LiveServer:
    settings = Settings(app="airbnb", data_dir=tmp_path / "data", environment="production", auth_jwks_url=jwks_url,
                        auth_issuer=ISSUER, auth_audience=AUDIENCE, log_json=False,
                        stripe_secret_key="sk_test_ProductionNeedsAStripeKey")  # never called here
    return LiveServer.start(settings)


def test_tokens_of_the_external_issuer_work_and_dev_sign_in_is_gone(
    tmp_path: Path, external_issuer: tuple[DevTokenIssuer, ThreadingHTTPServer]
) -> None:
    issuer, jwks_server = external_issuer
    server = production(tmp_path, f"http://127.0.0.1:{jwks_server.server_address[1]}/jwks.json")
    try:
        buyer = Session(user_id=str(uuid.uuid4()), email="dana@example.com", full_name="Dana", roles=())
        headers = {"Authorization": f"Bearer {issuer.issue(buyer)}"}
        with httpx.Client(base_url=server.base_url, headers=headers) as client:
            me = client.get("/auth/me").json()
            assert me["userId"] == buyer.user_id and me["email"] == "dana@example.com"
            listed = client.get("/bookingmanagement-api/v1/reservations").json()
            assert listed["rowCount"] == 0  # no demo data in production
            assert client.post("/auth/login", json={"username": "alice", "password": "alice-pass"}).status_code == 404
            assert client.get("/.well-known/jwks.json").status_code == 404
        assert not (tmp_path / "data" / "dev-signing-key.pem").exists()
    finally:
        server.stop()


def test_an_unreachable_issuer_is_a_503(tmp_path: Path, external_issuer: tuple[DevTokenIssuer, ThreadingHTTPServer]) -> None:
    issuer, _ = external_issuer
    closed_port = free_port()
    server = production(tmp_path, f"http://127.0.0.1:{closed_port}/jwks.json")
    try:
        buyer = Session(user_id=str(uuid.uuid4()), email="", full_name="", roles=())
        response = httpx.get(f"{server.base_url}/auth/me", headers={"Authorization": f"Bearer {issuer.issue(buyer)}"})
        assert response.status_code == 503 and response.json()["result"] == "ERR"
    finally:
        server.stop()


def test_production_without_a_jwks_url_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ORDERPAY_AUTH_JWKS_URL"):
        # With a Stripe key, so that what production lacks is the identity provider's keys.
        LiveServer.start(Settings(app="airbnb", data_dir=tmp_path, environment="production",
                                  stripe_secret_key="sk_test_ProductionNeedsAStripeKey"))
