"""With no model key, the offline assistant answers the core requests of every bundled app in
plain English, through the same MCP tools, and ends "pay my latest unpaid …" in the payment card."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from bff.settings import ChatSettings
from tests.bff.conftest import FAST, run_chat_server
from tests.bff.support import collapsed, new_order, pay_in_the_trusted_ui, stream_turn
from tests.support import LiveServer

# What a buyer calls the order object of each app, and the amount of its first two demo records.
NOUN = {"store": "order", "ebaycclone": "order", "clonesahibinden": "listing", "airbnb": "reservation"}
AMOUNTS = {"store": ("25.00 USD", "19.99 USD"), "ebaycclone": ("59.99 USD", "12.50 GBP"),
           "clonesahibinden": ("149.90 TRY", "25.00 USD"), "airbnb": ("420.50 USD", "189.99 EUR")}


@pytest.fixture(scope="module")
def offline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
            app_name: str) -> Iterator[LiveServer]:
    chat = ChatSettings(chat_provider="auto", **FAST)  # no key set: the offline assistant
    yield from run_chat_server(request, tmp_path_factory, backend, app_name, chat, demo_data=False)


def test_a_buyer_lists_pays_and_checks_their_orders(offline: LiveServer, app_name: str) -> None:
    noun = NOUN[app_name]
    older, newer = new_order(offline, "alice", 0), new_order(offline, "alice", 1)
    new_order(offline, "bob", 2)
    with offline.client("alice") as alice:
        listed = stream_turn(alice, f"list my {noun}s")
        conversation = listed.frames[0].data["conversationId"]
        paying = stream_turn(alice, f"pay my latest unpaid {noun}", conversation_id=conversation)
        status = stream_turn(alice, "is it paid?", conversation_id=conversation)

    assert listed.frames[0].data["provider"] == "offline"
    assert collapsed(listed.names) == ["start", "tool_start", "tool_executing", "tool_result", "text", "done"]
    newer_amount, older_amount = AMOUNTS[app_name][1], AMOUNTS[app_name][0]
    assert listed.text.startswith(f"You have 2 {noun}s:\n1. ")
    assert f"— {newer_amount} — unpaid" in listed.text.splitlines()[1]
    assert f"— {older_amount} — unpaid" in listed.text.splitlines()[2]

    assert [frame.data["tool"] for frame in paying.all("tool_result")][-1] == "initiatePayment"
    card = paying.all("tool_result")[-1].data
    assert card["success"] is True
    action = card["result"]["__frontendAction"]
    assert (action["type"], action["orderId"], action["payUrl"].startswith(f"{offline.base_url}/pay/")) == \
        ("payment", newer["id"], True)
    assert f"The payment of {newer_amount}" in paying.text and "click Pay" in paying.text
    assert paying.names[-1] == "done"

    assert status.first("tool_executing").data["args"]["orderId"] == newer["id"]
    assert "is not paid yet" in status.text

    pay_in_the_trusted_ui(offline, "alice", newer["id"])
    with offline.client("alice") as alice:
        after = stream_turn(alice, f"is my latest {noun} paid?")
        again = stream_turn(alice, f"pay my latest unpaid {noun}")
        cards = stream_turn(alice, "show my saved cards")
    assert after.text.endswith("is paid.") or " is paid. " in after.text
    assert again.all("tool_result")[-1].data["result"]["__frontendAction"]["orderId"] == older["id"]
    assert cards.text.startswith("You have 1 saved card") and "Visa ending 4242" in cards.text


def test_orders_are_found_by_position_and_shown(offline: LiveServer, app_name: str) -> None:
    noun = NOUN[app_name]
    with offline.client("carol") as carol:
        empty = stream_turn(carol, f"show my {noun}s")
    assert empty.text == f"You have no {noun}s yet."

    first = new_order(offline, "carol", 0)
    second = new_order(offline, "carol", 1)
    with offline.client("carol") as carol:
        shown = stream_turn(carol, f"show {noun} 2")
        paid = stream_turn(carol, f"pay the second {noun}")
        missing = stream_turn(carol, f"pay {noun} 7")
    assert shown.all("tool_executing")[-1].data["tool"].startswith("get")
    assert shown.all("tool_result")[-1].data["result"][next(iter(shown.all("tool_result")[-1].data["result"]))][
        "id"] == first["id"]
    assert AMOUNTS[app_name][0] in shown.text and "unpaid" in shown.text
    assert paid.all("tool_result")[-1].data["result"]["__frontendAction"]["orderId"] == first["id"]
    assert second["id"] != first["id"]
    assert missing.text == f"You have 2 {noun}s, so there is no {noun} 7."


def test_what_it_does_not_understand_is_answered_with_what_it_can_do(offline: LiveServer, app_name: str) -> None:
    with offline.client("alice") as alice:
        stream = stream_turn(alice, "what's the weather like in Paris?")
    assert stream.names[0] == "start" and stream.names[-1] == "done" and "tool_start" not in stream.names
    assert stream.text.startswith("Sorry, I didn't understand that.\nI'm the offline assistant of")
    assert f"“pay my latest unpaid {NOUN[app_name]}”" in stream.text
