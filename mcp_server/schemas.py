"""JSON schemas of what the tools return, derived from the app spec, and the
argument types the tools share."""
from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictStr

from payment_core.spec import PAYMENT_CONFIRMATION, PAYMENT_CONFIRMATION_VALUES, DataObjectSpec
from payment_core.spec.models import FieldSpec


def _canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID") from None


RecordId = Annotated[
    StrictStr,
    Field(max_length=100, json_schema_extra={"format": "uuid"}),
    AfterValidator(_canonical_uuid),
]
"""A record id as tools take it: a UUID string, answered with `must be a UUID` otherwise."""

_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "text": {"type": "string"},
    "integer": {"type": "integer"},
    "double": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date-time"},
    "id": {"type": "string", "format": "uuid"},
    "object": {"type": ["object", "array"]},
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or null, as a list of types rather than `anyOf`: the same values, and a client
    checks a page of records against it in about two thirds of the time (an `anyOf` is tried
    branch by branch, for every field of every row)."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    nullable = {**schema, "type": [*types, "null"]}
    if "enum" in schema:  # an enum limits every value, null included
        nullable["enum"] = [*schema["enum"], None]
    return nullable


def _value_schema(field: FieldSpec) -> dict[str, Any]:
    if field.type == "enum":
        schema: dict[str, Any] = {"type": "string", "enum": list(field.values or ())}
    elif field.type == "array":
        schema = {"type": "array", "items": _SCALARS[field.items or "string"]}
    else:
        schema = dict(_SCALARS[field.type])
    if field.description:
        return {**_nullable(schema), "description": field.description}
    return _nullable(schema)


def record_schema(obj: DataObjectSpec) -> dict[str, Any]:
    """A record as `ObjectStore.to_api` writes it: the spec's fields, enum indexes and system fields."""
    properties: dict[str, Any] = {"id": {"type": "string", "format": "uuid"}}
    for name, field in obj.fields.items():
        properties[name] = _value_schema(field)
        if field.type == "enum":
            properties[f"{name}_idx"] = _nullable({"type": "integer"})
    if obj.is_order:
        properties[PAYMENT_CONFIRMATION] = {
            "type": "string",
            "enum": list(PAYMENT_CONFIRMATION_VALUES),
            "description": "Whether the order is paid: pending, processing (payment under way), paid or canceled.",
        }
    properties.update(
        isActive={"type": "boolean"},
        recordVersion={"type": "integer"},
        createdAt={"type": "string", "format": "date-time"},
        updatedAt={"type": "string", "format": "date-time"},
        _owner={"type": "string", "format": "uuid", "description": "The user who created the record."},
    )
    return {"type": "object", "properties": properties, "required": list(properties)}


def object_schema(properties: dict[str, Any]) -> dict[str, Any]:
    """An output schema whose every property is always present."""
    return {"type": "object", "properties": properties, "required": list(properties)}
