"""List, get and create tools for each order object of the app spec.

They call the same `ObjectStore` the REST API does, so the access rules are the
store's: a user reaches only their own orders, and someone else's order is as
unknown as a missing one.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from mcp_types import CallToolResult
from pydantic import ConfigDict, Field, StrictInt, StrictStr, create_model

from payment_core.errors import BadInput
from payment_core.identity import Session
from payment_core.objects import FILTERABLE, ListQuery, ObjectStore
from payment_core.spec import PAYMENT_CONFIRMATION, DataObjectSpec
from payment_core.spec.inputs import field_annotation
from mcp_server.schemas import RecordId, object_schema, record_schema
from mcp_server.toolkit import ADDITIVE, READ_ONLY, ToolSpec, input_schema, parse_arguments, tool_result
from mcp_server.wording import capitalized, with_article, words

MAX_PAGE_ROWS = 100  # lower than REST's 500: every row lands in the model's context


def order_tools(store: ObjectStore) -> list[ToolSpec]:
    """The tools of one order object: list and get, and create when the spec lets buyers set fields."""
    tools = [list_tool(store), get_tool(store)]
    if set(store.create_model.model_fields) - {store.obj.owner_property}:
        tools.append(create_tool(store))
    return tools


def list_tool(store: ObjectStore) -> ToolSpec:
    obj = store.obj
    plural = words(obj.plural)
    filters = [name for name, field in obj.fields.items() if field.type in FILTERABLE]
    sortable = ", ".join(["createdAt", "updatedAt", *filters])
    arguments_model = create_model(
        f"{capitalized(obj.name)}ListArguments",
        __config__=ConfigDict(extra="forbid"),
        pageNumber=(StrictInt, Field(1, ge=1, description="Page to return, from 1.")),
        pageRowCount=(StrictInt, Field(20, ge=1, le=MAX_PAGE_ROWS, description=f"Rows per page, 1 to {MAX_PAGE_ROWS}.")),
        sort=(StrictStr, Field("-createdAt", max_length=200,
                               description=f"Comma-separated fields, `-` before a field for descending. Sortable: {sortable}.")),
        **{name: (field_annotation(obj.fields[name]) | None, Field(None, description=_filter_description(obj, name)))
           for name in filters},
    )

    async def handler(session: Session, arguments: dict[str, Any]) -> CallToolResult:
        parsed = parse_arguments(arguments_model, arguments)
        query = ListQuery(
            page_number=parsed.pageNumber,
            page_row_count=parsed.pageRowCount,
            sort=parsed.sort,
            filters=tuple((name, _filter_text(getattr(parsed, name))) for name in filters
                          if getattr(parsed, name) is not None),
        )
        page = await store.list(session, query)
        paging = page.paging
        summary = (f"{len(page.rows)} of {paging['totalRowCount']} {plural} "
                   f"(page {paging['pageNumber']} of {max(paging['pageCount'], 1)}).")
        return tool_result(summary, {obj.plural: page.rows, "paging": paging})

    return ToolSpec(
        name=f"list{capitalized(obj.plural)}",
        title=f"List {plural}",
        description=(
            f"List the signed-in user's {plural}{_about(obj)}, newest first unless `sort` says otherwise. "
            f"Use it to find {with_article(words(obj.name))}'s id or to answer questions about the user's {plural}. "
            f"Each row carries `{PAYMENT_CONFIRMATION}` (pending, processing, paid or canceled). "
            "Filters match exact values; `paging` tells how many rows there are in all."
        ),
        input_schema=input_schema(arguments_model),
        output_schema=object_schema({
            obj.plural: {"type": "array", "items": record_schema(obj)},
            "paging": object_schema({key: {"type": "integer"} for key in
                                     ("pageNumber", "pageRowCount", "totalRowCount", "pageCount")}),
        }),
        annotations=READ_ONLY,
        handler=handler,
    )


def get_tool(store: ObjectStore) -> ToolSpec:
    obj = store.obj
    label = words(obj.name)
    arguments_model = create_model(
        f"{capitalized(obj.name)}GetArguments",
        __config__=ConfigDict(extra="forbid"),
        **{obj.id_param: (RecordId, Field(description=f"The {label}'s id (a UUID), as list{capitalized(obj.plural)} shows it."))},
    )

    async def handler(session: Session, arguments: dict[str, Any]) -> CallToolResult:
        parsed = parse_arguments(arguments_model, arguments)
        record = await store.get(session, getattr(parsed, obj.id_param))
        summary = f"{capitalized(label)} {record['id']}: payment {record[PAYMENT_CONFIRMATION]}."
        return tool_result(summary, {obj.name: record})

    return ToolSpec(
        name=f"get{capitalized(obj.name)}",
        title=f"Get {with_article(label)}",
        description=(
            f"Get one of the signed-in user's {words(obj.plural)} by id, with all its fields and its payment state "
            f"(`{PAYMENT_CONFIRMATION}`). Use it to check {with_article(label)}'s details and amount, for example "
            "before preparing a payment. An id that is unknown or not the user's is reported as not found."
        ),
        input_schema=input_schema(arguments_model),
        output_schema=object_schema({obj.name: record_schema(obj)}),
        annotations=READ_ONLY,
        handler=handler,
    )


def create_tool(store: ObjectStore) -> ToolSpec:
    obj = store.obj
    label = words(obj.name)
    owner = obj.owner_property
    schema = input_schema(store.create_model)
    # The owner is always the caller; a model should not even be offered the choice.
    schema["properties"].pop(owner, None)
    schema["required"] = [name for name in schema.get("required", []) if name != owner]
    for name, prop in schema["properties"].items():
        if obj.fields[name].default is not None:
            prop["default"] = obj.fields[name].default
    settable = set(schema["properties"])

    async def handler(session: Session, arguments: dict[str, Any]) -> CallToolResult:
        for name in arguments:
            if name not in settable:
                raise BadInput(f"{name}: is not a field that can be set here", field=name)
        record = await store.create(session, arguments)
        summary = f"Created {with_article(label)} with id {record['id']}. Nothing has been charged."
        return tool_result(summary, {obj.name: record})

    return ToolSpec(
        name=f"create{capitalized(obj.name)}",
        title=f"Create {with_article(label)}",
        description=(
            f"Create {with_article(label)}{_about(obj)} for the signed-in user, who becomes its `{owner}`. "
            f"Call it only when the user asked for a new {label} and agreed to its details. It charges nothing; "
            "to let the user pay for it, call initiatePayment with the new id."
        ),
        input_schema=schema,
        output_schema=object_schema({obj.name: record_schema(obj)}),
        annotations=ADDITIVE,
        handler=handler,
    )


def _about(obj: DataObjectSpec) -> str:
    return f" ({obj.description.rstrip('.')})" if obj.description else ""


def _filter_description(obj: DataObjectSpec, name: str) -> str:
    about = obj.fields[name].description
    return f"Only {words(obj.plural)} whose `{name}` equals this." + (f" {about}" if about else "")


def _filter_text(value: Any) -> str:
    """A typed filter value in the text form `ObjectStore.list` parses (as from a query string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
