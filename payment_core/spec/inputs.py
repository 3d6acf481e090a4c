"""Input models built from an app spec.

One pydantic model per data object and operation validates what clients send,
whether it arrives over REST or MCP, and also documents it in OpenAPI and the
MCP tool schemas. Errors become `BadInput` naming the field.
"""
from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
    model_validator,
)

from payment_core.errors import BadInput
from payment_core.money import check_amount, normalize_currency
from payment_core.spec.models import STRING_LITERAL, DataObjectSpec, FieldSpec

MAX_INTEGER = 2**53 - 1  # what a JavaScript client can represent exactly


def _number(value: Any) -> float:
    # JSON numbers only: "12" and true are mistakes, not prices.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return float(value)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso_text(value: Any) -> Any:
    # Dates travel as ISO 8601 text; a bare number is more likely a mistake than a timestamp.
    if not isinstance(value, (str, datetime)):
        raise ValueError("must be an ISO 8601 date string")
    return value


Integer = Annotated[StrictInt, Field(ge=-MAX_INTEGER, le=MAX_INTEGER)]
Double = Annotated[float, BeforeValidator(_number)]
Date = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_aware)]
Id = Annotated[uuid.UUID, BeforeValidator(lambda v: v if isinstance(v, (str, uuid.UUID)) else _not_text())]


def _not_text() -> Any:
    raise ValueError("must be a UUID string")


def _scalar(kind: str, field: FieldSpec) -> Any:
    match kind:
        case "string":
            return Annotated[StrictStr, Field(max_length=field.maxLength)] if field.maxLength else StrictStr
        case "text":
            return StrictStr
        case "integer":
            return Integer
        case "double":
            return Double
        case "boolean":
            return StrictBool
        case "date":
            return Date
        case "id":
            return Id
        case "object":
            return dict[str, Any] | list[Any]
    raise AssertionError(kind)


def field_annotation(field: FieldSpec) -> Any:
    if field.type == "enum":
        return Literal[tuple(field.values or ())]  # type: ignore[misc]
    if field.type == "array":
        return list[_scalar(field.items or "string", field)]  # type: ignore[misc]
    return _scalar(field.type, field)


def _model_name(obj: DataObjectSpec, suffix: str) -> str:
    return obj.name[0].upper() + obj.name[1:] + suffix


def create_input_model(obj: DataObjectSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, spec in obj.fields.items():
        if (not spec.allowCreate and name != obj.owner_property) or name in obj.payment_owned_fields:
            continue
        annotation = field_annotation(spec)
        description = spec.description or None
        if spec.required and name != obj.owner_property:
            fields[name] = (annotation, Field(description=description))
        else:
            fields[name] = (annotation | None, Field(None, description=description))
    return create_model(_model_name(obj, "Create"), __config__=ConfigDict(extra="forbid"),
                        __validators__=_money_validators(obj), **fields)


def update_input_model(obj: DataObjectSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (field_annotation(spec) | None, Field(None, description=spec.description or None))
        for name, spec in obj.fields.items()
        if spec.allowUpdate and name not in obj.payment_owned_fields
    }
    fields["recordVersion"] = (
        StrictInt | None,
        Field(None, description="When given, the update applies only if the record is still at this version (else 409)."),
    )
    return create_model(_model_name(obj, "Update"), __config__=ConfigDict(extra="forbid"),
                        __validators__=_money_validators(obj), **fields)


def _money_validators(obj: DataObjectSpec) -> dict[str, Any]:
    """On an order whose amount or currency the spec reads from a field, a value that could never
    be charged (Infinity, 0, -5, 1e308, `BTC`, too many decimals) is refused when it is written,
    naming the field — not first when the buyer pays."""
    if not obj.is_order:
        return {}
    config = obj.order
    amount_path = obj.read_path(config.amount)
    currency_path = obj.read_path(config.currency)
    literal = STRING_LITERAL.fullmatch(config.currency.strip())
    fixed_currency = literal.group(2) if literal else None
    if amount_path is None and currency_path is None:
        return {}

    def check(model: BaseModel) -> BaseModel:
        given = model.model_fields_set
        currency = fixed_currency
        if currency_path and currency_path[0] in given:
            value = _at(getattr(model, currency_path[0]), currency_path[1:])
            if value is not None:
                currency = normalize_currency(value, field=".".join(currency_path))
        if amount_path and amount_path[0] in given:
            value = _at(getattr(model, amount_path[0]), amount_path[1:])
            if value is not None:
                check_amount(value, currency, config.amountUnit, field=".".join(amount_path))
        return model

    return {"_money": model_validator(mode="after")(check)}


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def bad_input_from(errors: Sequence[Mapping[str, Any]]) -> BadInput:
    """The first problem of a pydantic error list, named by its field, as the contract's 400 error."""
    if not errors:
        return BadInput("invalid input")
    error = errors[0]
    parts = [part for part in error["loc"] if part not in ("body", "query", "path")]
    # After the field name, keep list positions and keys, not pydantic's union member tags (`.int`, `.float`).
    loc = [str(part) for i, part in enumerate(parts) if i == 0 or isinstance(part, int)]
    field = ".".join(loc) or None
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "is not a field that can be set here"
    elif error["type"] == "missing":
        message = "is required"
    return BadInput(f"{field}: {message}" if field else message, field=field)


MAX_JSON_DEPTH = 32


def check_storable(value: Any, field: str, depth: int = 0) -> None:
    """Refuse what a database cannot hold: NUL characters (PostgreSQL text) and runaway nesting."""
    if depth > MAX_JSON_DEPTH:
        raise BadInput(f"{field}: is nested more than {MAX_JSON_DEPTH} levels deep", field=field)
    if isinstance(value, str):
        if "\x00" in value:
            raise BadInput(f"{field}: must not contain NUL characters", field=field)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, field, depth + 1)
            check_storable(item, field, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_storable(item, field, depth + 1)


def validate_input(model: type[BaseModel], data: Any) -> dict[str, Any]:
    """Validated values, keeping only the fields the client actually sent."""
    if not isinstance(data, dict):
        raise BadInput("the request body must be a JSON object")
    for name, value in data.items():
        check_storable(value, str(name))
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise bad_input_from(exc.errors()) from None
    return {name: getattr(parsed, name) for name in parsed.model_fields_set}
