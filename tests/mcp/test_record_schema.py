"""The records the order tools return, as their output schema describes them: a client checks
every result against it (the official client does), so it must accept every record orderpay
writes — every nullable field null — and refuse a value of the wrong type."""
from __future__ import annotations

import jsonschema
import pytest

from payment_core.spec import load_app
from mcp_server.schemas import record_schema
from tests.mcp.support import order_object


@pytest.mark.parametrize("app_name", ["store", "airbnb", "ebaycclone", "clonesahibinden"])
def test_a_record_with_every_nullable_field_null_is_valid_and_a_wrong_type_is_not(app_name: str) -> None:
    obj = order_object(app_name)
    schema = record_schema(obj)
    validator = jsonschema.Draft202012Validator(schema)
    uuid = "0190f1c2-7a5e-7cde-8f00-0123456789ab"
    record = {name: None for name in schema["properties"]}
    record.update(id=uuid, _owner=uuid, isActive=True, recordVersion=1, createdAt="2026-12-02T09:00:00Z",
                  updatedAt="2026-12-02T09:00:00Z", _paymentConfirmation="pending")
    assert list(validator.iter_errors(record)) == []

    enums = [name for name, field in obj.fields.items() if field.type == "enum"]
    for name in enums:  # one of the spec's values, or null; nothing else
        assert validator.is_valid({**record, name: obj.fields[name].values[0]})
        assert not validator.is_valid({**record, name: "not-one-of-its-values"})
    scalars = [name for name, field in obj.fields.items() if field.type in ("string", "text", "integer", "double", "boolean")]
    for name in scalars:  # null, or a value of its type: never an object
        assert not validator.is_valid({**record, name: {"nested": 1}}), name
