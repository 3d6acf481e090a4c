"""Database tables built from an app spec: the declared fields plus the seeds' system fields."""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from payment_core.spec import PAYMENT_CONFIRMATION, AppSpec, DataObjectSpec, FieldSpec

JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")


def column_type(field: FieldSpec) -> TypeEngine:
    match field.type:
        case "string":
            return String(field.maxLength) if field.maxLength else Text()
        case "text":
            return Text()
        case "integer":
            return BigInteger()
        case "double":
            return Float(53)
        case "boolean":
            return Boolean()
        case "date":
            return DateTime(timezone=True)
        case "enum":
            return String(max(len(v) for v in field.values or ("",)))
        case "id":
            return Uuid(as_uuid=True)
        case "object" | "array":
            return JSON_TYPE
    raise AssertionError(field.type)


def table_name(obj: DataObjectSpec) -> str:
    return obj.name.lower()


def object_table(metadata: MetaData, obj: DataObjectSpec) -> Table:
    columns: list[Column] = [Column("id", Uuid(as_uuid=True), primary_key=True)]
    columns += [Column(name, column_type(field), nullable=True) for name, field in obj.fields.items()]
    columns += [
        Column("_owner", Uuid(as_uuid=True), nullable=False),
        Column("isActive", Boolean(), nullable=False, default=True),
        Column("recordVersion", Integer(), nullable=False, default=1),
        Column("createdAt", DateTime(timezone=True), nullable=False),
        Column("updatedAt", DateTime(timezone=True), nullable=False),
    ]
    if obj.is_order:
        columns.append(Column(PAYMENT_CONFIRMATION, String(16), nullable=False, default="pending"))
    table = Table(table_name(obj), metadata, *columns)
    # Lists are "my records, newest first": one index serves the filter and the sort.
    Index(f"ix_{table.name}_owner_list", table.c[obj.owner_property], table.c.isActive, table.c.createdAt)
    for name, field in obj.fields.items():
        if field.indexed and name != obj.owner_property:
            Index(f"ix_{table.name}_{name.lower()}", table.c[name])
    return table


def build_tables(spec: AppSpec, metadata: MetaData | None = None) -> tuple[MetaData, dict[str, Table]]:
    """One table per data object, keyed by object name."""
    metadata = metadata or MetaData()
    return metadata, {obj.name: object_table(metadata, obj) for _, obj in spec.objects()}
