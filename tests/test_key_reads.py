"""A REST GET (or an MCP `get…`) reads its record by key through a `KeyRead`: on SQLite the
statement runs on sqlite3 itself, with SQLAlchemy's type processors, instead of through
SQLAlchemy's execution. What it gives must be what `conn.execute(...).first()` gives, column for
column, for every type a spec can declare, null included — and so the record's JSON is the same."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, bindparam, select

from payment_core.db import Database
from payment_core.key_reads import KeyRead
from payment_core.objects import ObjectStore
from payment_core.schema import build_tables
from payment_core.spec import BUNDLED_APPS, load_app
from payment_core.spec.models import FieldSpec
from tests.conftest import BACKENDS
from tests.support import database_of_its_own, with_tables

WHEN = datetime(2026, 12, 2, 13, 14, 15, 987654, tzinfo=timezone.utc)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_of_its_own(request, tmp_path, "key_reads")  # no app's tables left in the shared one


def value_for(field: FieldSpec) -> Any:
    """A value of the field's type, as a create stores it."""
    return {
        "string": "a string"[: field.maxLength or None], "text": "some text", "integer": 7, "double": 2.5, "boolean": True, "date": WHEN,
        "enum": (field.values or ("",))[-1], "id": uuid.uuid4(), "object": {"a": [1, "x"], "b": None},
        "array": ["x", "y"],
    }[field.type]


def full_row(obj: Any, table: Any) -> dict[str, Any]:
    row = {name: value_for(field) for name, field in obj.fields.items()}
    row.update(id=uuid.uuid4(), _owner=uuid.uuid4(), isActive=True, recordVersion=3, createdAt=WHEN, updatedAt=WHEN)
    if "_paymentConfirmation" in table.c:
        row["_paymentConfirmation"] = "paid"
    return row


def empty_row(row: dict[str, Any]) -> dict[str, Any]:
    """The same record with every declared field null."""
    system = {"id", "_owner", "isActive", "recordVersion", "createdAt", "updatedAt", "_paymentConfirmation"}
    return {name: value if name in system else None for name, value in row.items()} | {"id": uuid.uuid4()}


@pytest.mark.parametrize("app", BUNDLED_APPS)
def test_a_key_read_gives_what_sqlalchemy_gives_for_every_column_of_every_bundled_app(url: str, app: str) -> None:
    spec = load_app(app).spec
    metadata, tables = build_tables(spec, MetaData())

    async def scenario(db: Database) -> None:
        for service, obj in spec.objects():
            table = tables[obj.name]
            full = full_row(obj, table)
            rows = [full, empty_row(full)]
            async with db.engine.begin() as conn:
                await conn.execute(table.insert(), rows)
            by_key = KeyRead(select(table).where(table.c.id == bindparam("key")))
            store = ObjectStore(db, service, obj, table)
            for row in rows:
                fast = await db.read_by_key(lambda conn: by_key.first(conn, {"key": row["id"]}))
                slow = await db.read(lambda conn: conn.execute(by_key.statement, {"key": row["id"]}).first())
                assert fast is not None and slow is not None
                assert tuple(fast) == tuple(slow), obj.name
                assert [type(v) for v in fast] == [type(v) for v in slow], obj.name
                assert store.to_api(fast) == store.to_api(slow)
                if db.engine.dialect.name == "sqlite":  # it did run on sqlite3 itself
                    assert type(fast) is tuple
            missing = await db.read_by_key(lambda conn: by_key.first(conn, {"key": uuid.uuid4()}))
            assert missing is None

    with_tables(url, metadata, scenario)


def test_a_record_answers_ids_as_text_dates_in_milliseconds_and_enums_with_their_index(tmp_path: Path) -> None:
    spec = load_app("airbnb").spec
    service, obj = next((s, o) for s, o in spec.objects() if o.name == "reservation")
    metadata, tables = build_tables(spec, MetaData())
    table = tables[obj.name]
    enum_name, enum_field = next((n, f) for n, f in obj.fields.items() if f.type == "enum")
    date_name = next(n for n, f in obj.fields.items() if f.type == "date")
    id_name = next(n for n, f in obj.fields.items() if f.type == "id")
    full = full_row(obj, table)
    unknown = empty_row(full) | {enum_name: "not-one-of-its-values"}

    async def scenario(db: Database) -> tuple[dict[str, Any], dict[str, Any]]:
        async with db.engine.begin() as conn:
            await conn.execute(table.insert(), [full, unknown])
        store = ObjectStore(db, service, obj, table)
        by_key = KeyRead(select(table).where(table.c.id == bindparam("key")))
        read = [await db.read_by_key(lambda conn: by_key.first(conn, {"key": row["id"]})) for row in (full, unknown)]
        return store.to_api(read[0]), store.to_api(read[1])

    record, odd = with_tables(f"sqlite+aiosqlite:///{tmp_path}/r.db", metadata, scenario)
    assert record["id"] == str(full["id"]) and record["_owner"] == str(full["_owner"])
    assert record[id_name] == str(full[id_name])
    assert record[date_name] == record["createdAt"] == "2026-12-02T13:14:15.987Z"
    assert record[enum_name] == enum_field.values[-1]
    assert record[f"{enum_name}_idx"] == len(enum_field.values) - 1
    assert record["isActive"] is True and record["recordVersion"] == 3
    assert odd[enum_name] == "not-one-of-its-values" and odd[f"{enum_name}_idx"] is None
    assert odd[date_name] is None and odd[id_name] is None
