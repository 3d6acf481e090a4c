"""The order tools of every bundled app, through the official MCP client in memory on the
production composition (the transport is tests/mcp/test_transport.py's), on SQLite and
PostgreSQL: their schemas and annotations, what they return, and that one user reaches nothing
of another's."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from orderpay import build_runtime
from payment_core.settings import Settings
from payment_core.spec import resolve_spec_path
from mcp_server.server import tool_specs
from tests.mcp.support import create_values, data_of, error_of, mcp_client, order_object, text_of, tool_names
from tests.support import RunningApp

pytestmark = pytest.mark.anyio


async def test_tools_are_listed_with_schemas_annotations_and_the_payment_card(system: RunningApp, app_name: str) -> None:
    obj = order_object(app_name)
    list_name, get_name, create_name = tool_names(obj)
    async with mcp_client(system, "alice") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert "io.modelcontextprotocol/ui" in (client.server_capabilities.extensions or {})

    assert set(tools) == {list_name, get_name, create_name, "initiatePayment", "getPaymentStatus", "refreshPayment",
                          "listSavedCards", "requestRefund"}
    for tool in tools.values():
        assert tool.title and tool.annotations is not None and tool.annotations.title == tool.title
        assert len(tool.description or "") > 100, tool.name
        assert tool.input_schema["type"] == "object" and tool.input_schema["additionalProperties"] is False
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"

    hints = {name: (t.annotations.read_only_hint, t.annotations.destructive_hint, t.annotations.idempotent_hint,
                    t.annotations.open_world_hint) for name, t in tools.items()}
    assert hints[list_name] == hints[get_name] == hints["listSavedCards"] == hints["getPaymentStatus"] == \
        (True, False, True, False)
    assert hints[create_name] == (False, False, False, False)
    assert hints["refreshPayment"] == (False, False, True, True)  # asks Stripe and writes what it says
    assert hints["requestRefund"] == (False, False, True, False)  # records a request; moves no money

    listing = tools[list_name].input_schema["properties"]
    enum_fields = [name for name, f in obj.fields.items() if f.type == "enum"]
    for name in enum_fields:
        assert listing[name]["anyOf"][0]["enum"] == list(obj.fields[name].values)
    assert listing["pageRowCount"]["maximum"] == 100 and "sort" in listing

    creating = tools[create_name].input_schema
    settable = {name for name, f in obj.fields.items() if f.allowCreate and name != obj.owner_property}
    assert set(creating["properties"]) == settable
    assert set(creating["required"]) == {name for name in settable if obj.fields[name].required}
    for name in settable:
        if obj.fields[name].description:
            assert creating["properties"][name]["description"] == obj.fields[name].description

    assert tools[get_name].input_schema["required"] == [obj.id_param]
    assert tools[get_name].input_schema["properties"][obj.id_param]["format"] == "uuid"
    assert tools["initiatePayment"].meta == {"ui": {"resourceUri": "ui://orderpay/payment-card.html"}}
    # MCP Apps: the card's refresh is the card's alone; the model reads the status, read-only.
    assert tools["refreshPayment"].meta == {"ui": {"resourceUri": "ui://orderpay/payment-card.html",
                                                   "visibility": ["app"]}}
    assert tools["getPaymentStatus"].meta is None
    assert tools["initiatePayment"].input_schema["properties"]["orderType"]["enum"] == [obj.name]


async def test_a_buyer_creates_lists_filters_and_gets_orders(system: RunningApp, app_name: str) -> None:
    obj = order_object(app_name)
    list_name, get_name, create_name = tool_names(obj)
    alice_id = system.session("alice").user_id
    values = create_values(obj)
    async with mcp_client(system, "alice") as alice:
        result = await alice.call_tool(create_name, values)
        created = data_of(result)[obj.name]
        assert created["id"] in text_of(result)
        assert created[obj.owner_property] == alice_id and created["_owner"] == alice_id
        assert created["_paymentConfirmation"] == "pending"
        for name, value in values.items():
            if obj.fields[name].type in ("string", "integer", "enum", "id", "object"):
                assert created[name] == value, name

        got = data_of(await alice.call_tool(get_name, {obj.id_param: created["id"].upper()}))
        assert got == {obj.name: created}

        second = data_of(await alice.call_tool(create_name, create_values(obj, 1)))[obj.name]
        listed = data_of(await alice.call_tool(list_name, {}))
        assert {row["id"] for row in listed[obj.plural]} >= {created["id"], second["id"]}
        assert listed["paging"]["totalRowCount"] == len(listed[obj.plural])

        oldest_first = data_of(await alice.call_tool(list_name, {"sort": "createdAt", "pageRowCount": 1}))
        assert [row["id"] for row in oldest_first[obj.plural]] == [created["id"]]
        page_two = data_of(await alice.call_tool(list_name, {"sort": "createdAt", "pageRowCount": 1, "pageNumber": 2}))
        assert [row["id"] for row in page_two[obj.plural]] == [second["id"]]

        enum_field = next(name for name, f in obj.fields.items() if f.type == "enum")
        same = data_of(await alice.call_tool(list_name, {enum_field: created[enum_field]}))
        assert created["id"] in {row["id"] for row in same[obj.plural]}
        other_value = next(v for v in obj.fields[enum_field].values or () if v != created[enum_field])
        others = data_of(await alice.call_tool(list_name, {enum_field: other_value}))
        assert created["id"] not in {row["id"] for row in others[obj.plural]}


async def test_another_user_gets_nothing_of_alices_through_any_tool(system: RunningApp, app_name: str) -> None:
    obj = order_object(app_name)
    list_name, get_name, create_name = tool_names(obj)
    alice_id = system.session("alice").user_id
    async with mcp_client(system, "alice") as alice:
        alices = data_of(await alice.call_tool(create_name, create_values(obj)))[obj.name]

    unknown = str(uuid.uuid4())
    async with mcp_client(system, "bob") as bob:
        bobs = data_of(await bob.call_tool(create_name, create_values(obj, 2)))[obj.name]
        answers = [await bob.call_tool(list_name, {}),
                   await bob.call_tool(list_name, {obj.owner_property: alice_id}),
                   await bob.call_tool(list_name, {"sort": obj.owner_property, "pageRowCount": 100})]
        for answer in answers:
            rows = data_of(answer)[obj.plural]
            assert all(row[obj.owner_property] == bobs[obj.owner_property] for row in rows)
        assert data_of(answers[1])[obj.plural] == []

        # Alice's id answers exactly as an id that exists nowhere: nothing tells them apart.
        for tool, arguments in ((get_name, {obj.id_param: alices["id"]}),
                                ("initiatePayment", {"orderType": obj.name, "orderId": alices["id"]}),
                                ("getPaymentStatus", {"orderType": obj.name, "orderId": alices["id"]})):
            hers = await bob.call_tool(tool, arguments)
            nobodys = await bob.call_tool(tool, {key: (unknown if value == alices["id"] else value)
                                                 for key, value in arguments.items()})
            assert error_of(hers) == error_of(nobodys), tool
            answers.append(hers)

        # Nor can Bob make an order Alice's.
        refused = await bob.call_tool(create_name, {**create_values(obj, 2), obj.owner_property: alice_id})
        assert error_of(refused) == f"Error executing tool {create_name}: {obj.owner_property}: is not a field that can be set here"

    for answer in answers:
        assert alices["id"] not in text_of(answer)
        assert alice_id not in text_of(answer)


async def test_an_order_object_without_buyer_settable_fields_gets_no_create_tool(tmp_path: Path) -> None:
    spec = yaml.safe_load(resolve_spec_path("store").read_text())
    fields = spec["services"][0]["dataObjects"][0]["fields"]
    for name, field in fields.items():
        if name != "buyerId":
            fields[name] = {**(field if isinstance(field, dict) else {"type": field}), "allowCreate": False}
    spec["services"][0]["dataObjects"][0].pop("demoRecords")
    path = tmp_path / "readonly.yaml"
    path.write_text(yaml.safe_dump(spec))
    runtime = build_runtime(Settings(app=str(path), data_dir=tmp_path))
    try:
        names = [tool.name for tool in tool_specs(runtime)]
    finally:
        await runtime.close()
    assert names == ["listOrders", "getOrder", "initiatePayment", "getPaymentStatus", "refreshPayment", "listSavedCards",
                     "requestRefund"]
