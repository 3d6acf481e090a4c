"""Every route requires a valid token, and a user reaches only their own records:
someone else's record answers exactly as a missing one does. superAdmin sees all.
In process (the REST app as the composition root builds it): no transport is under test."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from payment_core.identity import DevTokenIssuer, find_demo_user, load_or_create_signing_key
from tests.conftest import start_server
from tests.support import InProcessApp

RESERVATIONS = "/bookingmanagement-api/v1/reservations"
BODY = {"listingId": str(uuid.uuid4()), "checkIn": "2027-03-01T15:00:00Z", "checkOut": "2027-03-04T11:00:00Z",
        "currency": "USD", "totalPrice": 99.5}


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[InProcessApp]:
    yield from start_server(request, tmp_path_factory, backend, "airbnb", demo_data=False, reached=InProcessApp)


@pytest.fixture(scope="module")
def alices_reservation(server: InProcessApp) -> dict[str, Any]:
    with server.client("alice") as alice:
        return alice.post(RESERVATIONS, json=BODY).json()["reservation"]


def routes(record_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    item = f"{RESERVATIONS}/{record_id}"
    return [("GET", RESERVATIONS, None), ("POST", RESERVATIONS, BODY), ("GET", item, None),
            ("PATCH", item, {"guestCount": 2}), ("DELETE", item, None), ("GET", "/auth/me", None)]


def forged_tokens(server: InProcessApp, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    alice = find_demo_user("alice")
    assert alice is not None
    settings = server.settings
    real = server.runtime.issuer
    assert real is not None
    other_key = load_or_create_signing_key(tmp_path_factory.mktemp("k") / "other.pem")
    good = real.issue(alice)
    header, payload, signature = good.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"alice@', b'"admin@')).decode()
    return {
        "missing": "",
        "not bearer": f"Basic {good}",
        "garbage": "Bearer not.a.token",
        "bad signature": f"Bearer {DevTokenIssuer(other_key, settings.auth_issuer, settings.auth_audience).issue(alice)}",
        "tampered": f"Bearer {header}.{tampered_payload}.{signature}",
        "expired": f"Bearer {real.issue(alice, now=time.time() - 7200, ttl_seconds=60)}",
        "wrong issuer": f"Bearer {DevTokenIssuer(real.key, 'someone-else', settings.auth_audience).issue(alice)}",
        "wrong audience": f"Bearer {DevTokenIssuer(real.key, settings.auth_issuer, 'other-api').issue(alice)}",
    }


@pytest.mark.parametrize("case", ["missing", "not bearer", "garbage", "bad signature", "tampered", "expired",
                                  "wrong issuer", "wrong audience"])
def test_a_bad_or_missing_token_is_a_401_on_every_route(server: InProcessApp, alices_reservation: dict[str, Any],
                                                          tmp_path_factory: pytest.TempPathFactory, case: str) -> None:
    authorization = forged_tokens(server, tmp_path_factory)[case]
    headers = {"Authorization": authorization} if authorization else {}
    with server.client(headers=headers) as client:
        for method, path, body in routes(alices_reservation["id"]):
            response = client.request(method, path, json=body)
            assert response.status_code == 401, (case, method, path, response.text)
            assert response.json()["result"] == "ERR"
            assert response.headers["www-authenticate"] == "Bearer"
    with server.client("alice") as alice:  # nothing was changed by any of those requests
        assert alice.get(f"{RESERVATIONS}/{alices_reservation['id']}").json()["reservation"]["recordVersion"] == 1


def test_another_user_cannot_tell_alices_reservation_exists(server: InProcessApp, alices_reservation: dict[str, Any]) -> None:
    item = f"{RESERVATIONS}/{alices_reservation['id']}"
    missing = f"{RESERVATIONS}/{uuid.uuid4()}"
    with server.client("bob") as bob:
        for method, body in (("GET", None), ("PATCH", {"guestCount": 9}), ("DELETE", None)):
            theirs, nothing = bob.request(method, item, json=body), bob.request(method, missing, json=body)
            assert theirs.status_code == nothing.status_code == 404
            assert theirs.json()["message"] == nothing.json()["message"]
        assert alices_reservation["id"] not in [r["id"] for r in bob.get(RESERVATIONS).json()["reservations"]]
        assert bob.get(RESERVATIONS, params={"guestId": alices_reservation["guestId"]}).json()["rowCount"] == 0
    with server.client("alice") as alice:
        assert alice.get(item).json()["reservation"]["recordVersion"] == 1


def test_the_owner_and_super_admin_reach_the_reservation(server: InProcessApp) -> None:
    with server.client("alice") as alice, server.client("admin") as admin:
        record = alice.post(RESERVATIONS, json=BODY).json()["reservation"]
        item = f"{RESERVATIONS}/{record['id']}"
        assert alice.get(item).status_code == 200
        assert admin.get(item).json()["reservation"]["guestId"] == record["guestId"]
        assert record["id"] in [r["id"] for r in admin.get(RESERVATIONS, params={"pageRowCount": 500}).json()["reservations"]]
        assert admin.patch(item, json={"guestCount": 4}).json()["reservation"]["guestCount"] == 4
        assert admin.delete(item).json()["reservation"]["isActive"] is False
        assert alice.get(item).status_code == 404


def test_a_super_admin_may_create_for_a_user(server: InProcessApp) -> None:
    alice_id = server.session("alice").user_id
    with server.client("admin") as admin, server.client("alice") as alice:
        record = admin.post(RESERVATIONS, json={**BODY, "guestId": alice_id}).json()["reservation"]
        assert alice.get(f"{RESERVATIONS}/{record['id']}").status_code == 200


def test_sign_in_with_a_demo_password(server: InProcessApp) -> None:
    with server.client() as client:
        assert client.post("/auth/login", json={"username": "alice", "password": "wrong"}).status_code == 401
        assert client.post("/auth/login", json={"username": "alice"}).status_code == 400
        signed_in = client.post("/auth/login", json={"username": "alice", "password": "alice-pass"})
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["access_token"]
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["email"] == "alice@example.com" and me["userId"] == server.session("alice").user_id
