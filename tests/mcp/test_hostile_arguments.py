"""Malformed and hostile tool arguments: each is refused with a plain `field: problem` tool
error, and none of them writes anything (SQLite and PostgreSQL; the MCP client in memory on the
production composition: the arguments, not the transport, are under test)."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.mcp.support import data_of, error_of, mcp_client
from tests.support import RunningApp

pytestmark = pytest.mark.anyio

VALID = {"listingId": "7f0c2a64-5d55-4f86-9d5e-0c3d1f6b2a10", "checkIn": "2027-05-01", "checkOut": "2027-05-03",
         "currency": "USD", "totalPrice": 250}


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"deeper": value}
    return value


@pytest.fixture(scope="module")
def app_name() -> str:
    return "airbnb"


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("getReservation", {}, "reservationId: is required"),
    ("getReservation", {"reservationId": 42}, "reservationId: Input should be a valid string"),
    ("getReservation", {"reservationId": "' OR '1'='1"}, "reservationId: must be a UUID"),
    ("getReservation", {"reservationId": "../../etc/passwd"}, "reservationId: must be a UUID"),
    ("getReservation", {"reservationId": "a" * 5000}, "reservationId: String should have at most 100 characters"),
    ("getReservation", {"reservationId": str(uuid.uuid4()), "guestId": str(uuid.uuid4())},
     "guestId: is not a field that can be set here"),
    ("listReservations", {"pageRowCount": 0}, "pageRowCount: Input should be greater than or equal to 1"),
    ("listReservations", {"pageRowCount": 101}, "pageRowCount: Input should be less than or equal to 100"),
    ("listReservations", {"pageRowCount": "5"}, "pageRowCount: Input should be a valid integer"),
    ("listReservations", {"pageNumber": True}, "pageNumber: Input should be a valid integer"),
    ("listReservations", {"sort": "-createdAt; DROP TABLE reservation"}, "sort: cannot sort by `createdAt; DROP TABLE reservation`"),
    ("listReservations", {"sort": "_owner"}, "sort: cannot sort by `_owner`"),
    ("listReservations", {"bookingStatus": "hacked"}, "bookingStatus: Input should be 'pending', 'confirmed', 'complete', 'cancelled' or 'declined'"),
    ("listReservations", {"currency": "U\x00D"}, "currency: must not contain NUL characters"),
    ("listReservations", {"_owner": str(uuid.uuid4())}, "_owner: is not a field that can be set here"),
    ("listReservations", {"guestId": "everyone"}, "guestId: Input should be a valid UUID, invalid character: found `v` at 1"),
    ("createReservation", {**VALID, "totalPrice": "250"}, "totalPrice: must be a number"),
    ("createReservation", {key: value for key, value in VALID.items() if key != "listingId"}, "listingId: is required"),
    ("createReservation", {**VALID, "bookingStatus": "confirmed"}, "bookingStatus: is not a field that can be set here"),
    ("createReservation", {**VALID, "_paymentConfirmation": "paid"}, "_paymentConfirmation: is not a field that can be set here"),
    ("createReservation", {**VALID, "id": str(uuid.uuid4())}, "id: is not a field that can be set here"),
    ("createReservation", {**VALID, "checkIn": 1767225600}, "checkIn: must be an ISO 8601 date string"),
    ("createReservation", {**VALID, "iCalExportUrl": "x\x00y"}, "iCalExportUrl: must not contain NUL characters"),
    ("createReservation", {**VALID, "bookingPoliciesSnapshot": nested(40)},
     "bookingPoliciesSnapshot: is nested more than 32 levels deep"),
    ("initiatePayment", {"orderType": "user", "orderId": str(uuid.uuid4())}, "orderType: Input should be 'reservation'"),
    ("initiatePayment", {"orderId": "1; DELETE"}, "orderId: must be a UUID"),
    ("getPaymentStatus", {"orderId": str(uuid.uuid4()), "paymentMethodId": "pm_card_visa"},
     "paymentMethodId: is not a field that can be set here"),
    ("listSavedCards", {"userId": str(uuid.uuid4())}, "userId: is not a field that can be set here"),
]


async def test_bad_arguments_get_plain_tool_errors_and_write_nothing(system: RunningApp) -> None:
    async with mcp_client(system, "alice") as alice:
        before = data_of(await alice.call_tool("listReservations", {}))["paging"]["totalRowCount"]
        for tool, arguments, message in CASES:
            assert error_of(await alice.call_tool(tool, arguments)) == f"Error executing tool {tool}: {message}"
        after = data_of(await alice.call_tool("listReservations", {}))["paging"]["totalRowCount"]
    assert after == before


async def test_unknown_ids_and_tools_are_plain_errors(system: RunningApp) -> None:
    async with mcp_client(system, "alice") as alice:
        missing = await alice.call_tool("getReservation", {"reservationId": str(uuid.uuid4())})
        assert error_of(missing) == "Error executing tool getReservation: Record not found"
        unpayable = await alice.call_tool("initiatePayment", {"orderId": str(uuid.uuid4())})
        assert error_of(unpayable) == "Error executing tool initiatePayment: Record not found"
        assert error_of(await alice.call_tool("deleteReservation", {})) == "Unknown tool: deleteReservation"
