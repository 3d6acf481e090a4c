"""A buyer's app talks to its order objects over REST with the seeds' envelopes, on SQLite and on
PostgreSQL. In process (the REST app as the composition root builds it, middleware included):
the HTTP transport is not under test here (tests/test_limits.py streams bodies over a socket)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from payment_core.spec import load_app
from tests.conftest import start_server
from tests.support import InProcessApp

ENVELOPE_KEYS = {"status", "statusCode", "elapsedMs", "ssoTime", "source", "cacheKey", "userId", "sessionId",
                 "requestId", "dataName", "method", "action", "appVersion", "rowCount"}
SYSTEM_KEYS = {"id", "_owner", "isActive", "recordVersion", "createdAt", "updatedAt"}


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
           app_name: str) -> Iterator[InProcessApp]:
    yield from start_server(request, tmp_path_factory, backend, app_name, demo_data=False, reached=InProcessApp)


def order_info(app_name: str) -> tuple[str, str, str, dict[str, Any]]:
    """(service prefix, object name, plural, a valid create body) of the app's order object."""
    app = load_app(app_name)
    service, obj = app.spec.order_objects()[0]
    return service.route_prefix, obj.name, obj.plural.lower(), dict(obj.demoRecords[0].values)


def test_buyer_creates_reads_lists_updates_and_deletes_an_order(server: InProcessApp, app_name: str) -> None:
    prefix, name, plural, body = order_info(app_name)
    app = load_app(app_name)
    _, obj = app.spec.order_objects()[0]
    with server.client("alice") as alice:
        created = alice.post(f"{prefix}/v1/{plural}", json=body)
        assert created.status_code == 201, created.text
        envelope = created.json()
        assert ENVELOPE_KEYS <= envelope.keys()
        assert (envelope["status"], envelope["statusCode"], envelope["dataName"], envelope["method"],
                envelope["action"], envelope["rowCount"]) == ("OK", "201", name, "POST", "create", 1)
        record = envelope[name]
        assert SYSTEM_KEYS | {"_paymentConfirmation"} | set(obj.fields) <= record.keys()
        assert record["_paymentConfirmation"] == "pending"
        assert record[obj.owner_property] == server.session("alice").user_id
        assert record["isActive"] is True and record["recordVersion"] == 1
        assert created.headers["x-request-id"] == envelope["requestId"]
        order_id = record["id"]

        got = alice.get(f"{prefix}/v1/{plural}/{order_id}").json()
        assert (got["action"], got["dataName"], got[name]["id"]) == ("get", name, order_id)

        listed = alice.get(f"{prefix}/v1/{plural}").json()
        assert listed["dataName"] == obj.plural and listed["action"] == "list"
        assert order_id in [r["id"] for r in listed[obj.plural]]
        assert listed["paging"]["totalRowCount"] >= 1

        status_field = obj.order.orderStatusProperty
        new_status = obj.fields[status_field].values[-1]
        patch_field = next(f for f, s in obj.fields.items() if s.type in ("string", "text") and s.allowUpdate and not s.maxLength)
        updated = alice.patch(f"{prefix}/v1/{plural}/{order_id}", json={patch_field: "changed"}).json()
        assert updated["action"] == "update" and updated[name][patch_field] == "changed"
        assert updated[name]["recordVersion"] == 2

        deleted = alice.delete(f"{prefix}/v1/{plural}/{order_id}").json()
        assert deleted["action"] == "delete" and deleted[name]["isActive"] is False
        assert alice.get(f"{prefix}/v1/{plural}/{order_id}").status_code == 404
        assert new_status  # every order status enum has values


def test_route_literals_match_in_any_case(server: InProcessApp, app_name: str) -> None:
    prefix, name, plural, body = order_info(app_name)
    with server.client("alice") as alice:
        order_id = alice.post(f"{prefix}/v1/{plural}", json=body).json()[name]["id"]
        shouted = alice.get(f"{prefix.upper()}/V1/{plural.upper()}/{order_id}")
        assert shouted.status_code == 200 and shouted.json()[name]["id"] == order_id


@pytest.fixture(scope="module")
def airbnb(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[InProcessApp]:
    yield from start_server(request, tmp_path_factory, backend, "airbnb", demo_data=False, max_body_bytes=4096,
                            reached=InProcessApp)


RESERVATIONS = "/bookingmanagement-api/v1/reservations"


def reservation(**overrides: Any) -> dict[str, Any]:
    body = {"listingId": str(uuid.uuid4()), "checkIn": "2027-03-01T15:00:00Z", "checkOut": "2027-03-04T11:00:00Z",
            "currency": "USD", "totalPrice": 300.25, "guestCount": 2}
    body.update(overrides)
    return body


def err(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["result"] == "ERR" and body["status"] == status and body["message"] and body["date"]
    return body


def test_list_pages_filters_and_sorts(airbnb: InProcessApp) -> None:
    with airbnb.client("carol") as carol:
        listing = str(uuid.uuid4())
        for price in (10, 30, 20):
            assert carol.post(RESERVATIONS, json=reservation(listingId=listing, totalPrice=price)).status_code == 201
        page = carol.get(RESERVATIONS, params={"listingId": listing, "sort": "totalPrice", "pageRowCount": 2}).json()
        assert [r["totalPrice"] for r in page["reservations"]] == [10, 20]
        assert page["paging"] == {"pageNumber": 1, "pageRowCount": 2, "totalRowCount": 3, "pageCount": 2}
        second = carol.get(RESERVATIONS, params={"listingId": listing, "sort": "totalPrice", "pageRowCount": 2,
                                                 "pageNumber": 2}).json()
        assert [r["totalPrice"] for r in second["reservations"]] == [30]
        newest = carol.get(RESERVATIONS, params={"listingId": listing, "sort": "-totalPrice"}).json()
        assert [r["totalPrice"] for r in newest["reservations"]] == [30, 20, 10]
        by_enum = carol.get(RESERVATIONS, params={"listingId": listing, "bookingStatus": "pending"}).json()
        assert by_enum["rowCount"] == 3 and by_enum["reservations"][0]["bookingStatus_idx"] == 0
        err(carol.get(RESERVATIONS, params={"bookingStatus": "flying"}), 400)
        assert "colour" in err(carol.get(RESERVATIONS, params={"colour": "red"}), 400)["message"]
        assert "sort" in err(carol.get(RESERVATIONS, params={"sort": "bookingPoliciesSnapshot"}), 400)["message"]
        err(carol.get(RESERVATIONS, params={"pageRowCount": 0}), 400)
        err(carol.get(RESERVATIONS, params={"pageNumber": "x"}), 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "USD"}, "listingId"),
        (reservation(totalPrice="12"), "totalPrice"),
        (reservation(totalPrice=True), "totalPrice"),
        (reservation(guestCount=1.5), "guestCount"),
        (reservation(listingId="not-a-uuid"), "listingId"),
        (reservation(checkIn=1700000000), "checkIn"),
        (reservation(approvalType="whenever"), "approvalType"),
        (reservation(currency="DOLLARS"), "currency"),
        (reservation(_paymentConfirmation="paid"), "_paymentConfirmation"),
        (reservation(bookingStatus="confirmed"), "bookingStatus"),
        (reservation(id=str(uuid.uuid4())), "id"),
        (reservation(totalPrice=None), "totalPrice"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(airbnb: InProcessApp, body: dict[str, Any], field: str) -> None:
    with airbnb.client("bob") as bob:
        before = bob.get(RESERVATIONS).json()["paging"]["totalRowCount"]
        problem = err(bob.post(RESERVATIONS, json=body), 400)
        assert field in problem["message"]
        assert bob.get(RESERVATIONS).json()["paging"]["totalRowCount"] == before


NESTED = b'{"bookingPoliciesSnapshot": ' + b"[" * 100 + b"]" * 100 + b"}"
VERY_NESTED = b'{"bookingPoliciesSnapshot": ' + b"[" * 2000 + b"]" * 2000 + b"}"


@pytest.mark.parametrize("raw", [b"{", b"[]", b"", b"null", b"\xff\xfe", b'"text"', b'{"totalPrice": NaN}',
                                 b'{"iCalImportSource": "a\\u0000b"}', b'{"bookingPoliciesSnapshot": {"k\\u0000": 1}}',
                                 NESTED, VERY_NESTED])
def test_a_body_that_is_not_a_json_object_is_a_400(airbnb: InProcessApp, raw: bytes) -> None:
    with airbnb.client("bob") as bob:
        err(bob.post(RESERVATIONS, content=raw, headers={"content-type": "application/json"}), 400)


def test_an_oversized_body_is_a_413(airbnb: InProcessApp) -> None:
    with airbnb.client("bob") as bob:
        problem = err(bob.post(RESERVATIONS, json=reservation(iCalImportSource="x" * 10_000)), 413)
        assert "4096" in problem["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds while streaming
            yield b'{"iCalImportSource": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}'

        err(bob.post(RESERVATIONS, content=chunks(), headers={"content-type": "application/json"}), 413)


def test_unknown_and_malformed_ids(airbnb: InProcessApp) -> None:
    with airbnb.client("bob") as bob:
        assert err(bob.get(f"{RESERVATIONS}/{uuid.uuid4()}"), 404)["message"] == "Record not found"
        assert "reservationId" in err(bob.get(f"{RESERVATIONS}/not-a-uuid"), 400)["message"]
        err(bob.patch(f"{RESERVATIONS}/{uuid.uuid4()}", json={"guestCount": 3}), 404)
        err(bob.delete(f"{RESERVATIONS}/{uuid.uuid4()}"), 404)
        err(bob.get("/bookingmanagement-api/v1/nothing-here"), 404)


def test_a_stale_record_version_is_a_409(airbnb: InProcessApp) -> None:
    with airbnb.client("bob") as bob:
        record = bob.post(RESERVATIONS, json=reservation()).json()["reservation"]
        url = f"{RESERVATIONS}/{record['id']}"
        assert bob.patch(url, json={"guestCount": 3, "recordVersion": 1}).status_code == 200
        assert "recordVersion" in err(bob.patch(url, json={"guestCount": 4, "recordVersion": 1}), 409)["message"]
        assert bob.get(url).json()["reservation"]["guestCount"] == 3


def test_the_owner_property_cannot_name_someone_else(airbnb: InProcessApp) -> None:
    with airbnb.client("bob") as bob:
        alice_id = airbnb.session("alice").user_id
        err(bob.post(RESERVATIONS, json=reservation(guestId=alice_id)), 403)
        mine = bob.post(RESERVATIONS, json=reservation()).json()["reservation"]
        err(bob.patch(f"{RESERVATIONS}/{mine['id']}", json={"guestId": alice_id}), 403)


def test_required_fields_cannot_be_nulled(airbnb: InProcessApp) -> None:
    with airbnb.client("bob") as bob:
        mine = bob.post(RESERVATIONS, json=reservation()).json()["reservation"]
        err(bob.patch(f"{RESERVATIONS}/{mine['id']}", json={"totalPrice": None}), 400)
