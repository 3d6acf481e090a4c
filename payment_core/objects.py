"""Create, read, list, update and soft-delete the data objects of an app spec.

The one place the access rules live: a user sees and changes only records whose
owner property is theirs (someone else's record is indistinguishable from a
missing one), `superAdmin` sees everything. REST and MCP both call this.
"""
from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from payment_core.clock import iso, utcnow
from payment_core.db import Database
from payment_core.errors import BadInput, Conflict, Forbidden, NotFound
from payment_core.identity import Session
from payment_core.key_reads import KeyRead
from payment_core.spec.inputs import check_storable, create_input_model, update_input_model, validate_input
from payment_core.spec import PAYMENT_CONFIRMATION, DataObjectSpec, ServiceSpec

FILTERABLE = {"string", "enum", "integer", "double", "boolean", "id", "date"}
MAX_PAGE_ROWS = 500
MAX_PAGE_NUMBER = 1_000_000

# The payment flow's say on a change of an order (`"update"` of fields a payment is bound to, or
# `"delete"`): it raises to refuse, inside the transaction that holds the order's row lock.
PaymentGuard = Callable[[AsyncConnection, dict[str, Any], str, Session], Awaitable[None]]
# A column as `to_api` answers it: its JSON name, its index in the row, the conversion of a value
# that is not null (None: as it is), and for an enum each value's index (its `_idx`).
ApiColumn = tuple[str, int, Callable[[Any], Any] | None, dict[Any, int] | None]


def parse_uuid(value: uuid.UUID | str, *, field: str) -> uuid.UUID:
    """An id from a request (or a record): a 400 naming `field` when it is not a UUID."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadInput(f"{field}: must be a UUID", field=field) from None


@dataclass(frozen=True)
class ListQuery:
    page_number: int = 1
    page_row_count: int = 50
    sort: str = "-createdAt"
    filters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    page_number: int
    page_row_count: int
    total_row_count: int

    @property
    def paging(self) -> dict[str, int]:
        pages = -(-self.total_row_count // self.page_row_count) if self.page_row_count else 0
        return {
            "pageNumber": self.page_number,
            "pageRowCount": self.page_row_count,
            "totalRowCount": self.total_row_count,
            "pageCount": pages,
        }


class ObjectStore:
    """Data access for one data object."""

    def __init__(self, db: Database, service: ServiceSpec, obj: DataObjectSpec, table: Table) -> None:
        self.db, self.service, self.obj, self.table = db, service, obj, table
        self.create_model = create_input_model(obj)
        self.update_model = update_input_model(obj)
        # Statements are built once, with what varies as bound parameters: building and cache-keying
        # a SQLAlchemy statement costs more than running it. Values to write travel as parameters
        # named after their columns; the other parameters' names hold an underscore, which no field
        # name can, so they never become SET values.
        active = table.c.isActive.is_(True)
        self._visible_to_owner = and_(active, table.c[obj.owner_property] == bindparam("visible_to"))
        self._visible_to_admin = active
        by_id = {admin: and_(table.c.id == bindparam("object_id"), self._visibility(admin)) for admin in (False, True)}
        self._get = {admin: KeyRead(select(table).where(by_id[admin])) for admin in (False, True)}
        self._id_if_visible = {admin: select(table.c.id).where(by_id[admin]) for admin in (False, True)}
        self._insert = table.insert().returning(*table.c)
        bump = {"recordVersion": table.c.recordVersion + 1}
        same_version = table.c.recordVersion == bindparam("expected_version")
        self._update = {
            (admin, versioned): update(table).where(by_id[admin], *([same_version] if versioned else []))
            .values(bump).returning(*table.c)
            for admin in (False, True) for versioned in (False, True)
        }
        # For the payment flow, which acts for the system: by id alone, no access rule.
        self.row_by_id = select(table).where(table.c.id == bindparam("row_id"))
        self.update_row_by_id = update(table).where(table.c.id == bindparam("row_id")).values(bump).returning(*table.c)
        # A write that changes nothing: it takes the row's lock (PostgreSQL) or the database's write
        # lock (SQLite) so that a change of the order and a payment's claim on it are serialised.
        self.lock_row_by_id = (update(table).where(table.c.id == bindparam("row_id"))
                               .values(isActive=table.c.isActive).returning(*table.c))
        self._lock_visible = {admin: update(table).where(by_id[admin]).values(isActive=table.c.isActive).returning(*table.c)
                              for admin in (False, True)}
        # Set by the payment flow on order objects: the fields its amount, currency and description
        # scripts read, and the check that refuses changing them (or deleting) while a payment needs them.
        self.frozen_fields: frozenset[str] = frozenset()
        self.payment_guard: PaymentGuard | None = None
        self._width = len(table.c)
        self._api_columns = self._api_plan()

    # -- serialization -------------------------------------------------

    def to_api(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row of the table (its columns in order, as `select(table)` and `returning(*table.c)`
        give them) as the seeds' JSON shows it: ids as text, dates ISO, enums with their `_idx`."""
        assert len(row) == self._width, "to_api takes a row of the table's columns, in order"
        out: dict[str, Any] = {}
        for name, index, convert, enum_values in self._api_columns:
            value = row[index]
            out[name] = value if convert is None or value is None else convert(value)
            if enum_values is not None:
                out[f"{name}_idx"] = enum_values.get(value)
        return out

    def _api_plan(self) -> list[ApiColumn]:
        """What `to_api` does with each column, worked out once: it runs for every row answered."""
        index = {column.name: i for i, column in enumerate(self.table.c)}
        plan: list[ApiColumn] = [("id", index["id"], str, None)]
        for name, field in self.obj.fields.items():
            convert = {"id": str, "date": iso, "array": json_value}.get(field.type)
            values = field.values or ()
            enum_values = {value: values.index(value) for value in values} if field.type == "enum" else None
            plan.append((name, index[name], convert, enum_values))
        if self.obj.is_order:
            plan.append((PAYMENT_CONFIRMATION, index[PAYMENT_CONFIRMATION], None, None))
        plan += [("isActive", index["isActive"], bool, None), ("recordVersion", index["recordVersion"], None, None),
                 ("createdAt", index["createdAt"], iso, None), ("updatedAt", index["updatedAt"], iso, None),
                 ("_owner", index["_owner"], str, None)]
        return plan

    # -- access rules ----------------------------------------------------

    def _visibility(self, admin: bool) -> ColumnElement[bool]:
        return self._visible_to_admin if admin else self._visible_to_owner

    def _visible(self, session: Session) -> tuple[ColumnElement[bool], dict[str, Any]]:
        """The rule's clause and its parameters: `superAdmin` sees all active records, others their own."""
        if session.is_super_admin:
            return self._visible_to_admin, {}
        return self._visible_to_owner, {"visible_to": uuid.UUID(session.user_id)}

    def _id_params(self, session: Session, object_id: str) -> dict[str, Any]:
        """The parameters of the by-id statements: the record's id and, unless admin, the caller's."""
        _, params = self._visible(session)
        params["object_id"] = parse_uuid(object_id, field=self.obj.id_param)
        return params

    # -- operations ------------------------------------------------------

    async def create(self, session: Session, data: Any, *, object_id: uuid.UUID | None = None) -> dict[str, Any]:
        values = self._storable(validate_input(self.create_model, data))
        owner_field = self.obj.owner_property
        user = uuid.UUID(session.user_id)
        if owner_field != "_owner":
            requested = values.get(owner_field)
            if requested is not None and requested != user and not session.is_super_admin:
                raise Forbidden(f"{owner_field}: you can only create records you own", field=owner_field)
            values[owner_field] = requested or user
        for name, field in self.obj.fields.items():
            if name not in values and field.default is not None:
                values[name] = field.default
        now = utcnow()
        values.update(
            id=object_id or uuid.uuid4(), _owner=user, isActive=True, recordVersion=1, createdAt=now, updatedAt=now
        )
        if self.obj.is_order:
            values[PAYMENT_CONFIRMATION] = "pending"
        async with self.db.engine.begin() as conn:
            row = (await conn.execute(self._insert, values)).one()
        return self.to_api(row)

    async def get(self, session: Session, object_id: str) -> dict[str, Any]:
        params = self._id_params(session, object_id)
        return await self.db.read_by_key(lambda conn: self._read(conn, session, params))

    def read(self, conn: Connection, session: Session, object_id: str) -> dict[str, Any]:
        """`get` in the caller's transaction, as part of a unit of work (`Database.write`)."""
        return self._read(conn, session, self._id_params(session, object_id))

    def _read(self, conn: Connection, session: Session, params: dict[str, Any]) -> dict[str, Any]:
        row = self._get[session.is_super_admin].first(conn, params)
        if row is None:
            raise NotFound()
        return self.to_api(row)

    async def list(self, session: Session, query: ListQuery) -> Page:
        if not 1 <= query.page_number <= MAX_PAGE_NUMBER:
            raise BadInput(f"pageNumber: must be between 1 and {MAX_PAGE_NUMBER}", field="pageNumber")
        if not 1 <= query.page_row_count <= MAX_PAGE_ROWS:
            raise BadInput(f"pageRowCount: must be between 1 and {MAX_PAGE_ROWS}", field="pageRowCount")
        visible, params = self._visible(session)
        where = and_(visible, *self._filters(query.filters))
        order_by = self._order_by(query.sort)
        count = select(func.count()).select_from(self.table).where(where)
        page = (
            select(self.table)
            .where(where)
            .order_by(*order_by)
            .limit(query.page_row_count)
            .offset((query.page_number - 1) * query.page_row_count)
        )

        def read(conn: Connection) -> tuple[int, Sequence[Row[Any]]]:
            return conn.execute(count, params).scalar_one(), conn.execute(page, params).all()

        total, rows = await self.db.read(read)
        return Page([self.to_api(r) for r in rows], query.page_number, query.page_row_count, total)

    async def update(self, session: Session, object_id: str, data: Any) -> dict[str, Any]:
        values = self._storable(validate_input(self.update_model, data))
        expected_version = values.pop("recordVersion", None)
        owner_field = self.obj.owner_property
        if owner_field in values and values[owner_field] != uuid.UUID(session.user_id) and not session.is_super_admin:
            raise Forbidden(f"{owner_field}: you cannot give your record to someone else", field=owner_field)
        for name, value in values.items():
            if value is None and self.obj.fields[name].required:
                raise BadInput(f"{name}: is required and cannot be null", field=name)
        params = self._id_params(session, object_id)
        if expected_version is not None:
            params["expected_version"] = expected_version
        statement = self._update[(session.is_super_admin, expected_version is not None)]
        async with self.db.engine.begin() as conn:
            bound = self.frozen_fields & values.keys()
            if bound and self.payment_guard is not None:
                current = (await conn.execute(self._lock_visible[session.is_super_admin], params)).first()
                if current is not None and any(current._mapping[name] != values[name] for name in bound):
                    await self.payment_guard(conn, self.to_api(current), "update", session)
            row = (await conn.execute(statement, {**values, "updatedAt": utcnow(), **params})).first()
            if row is None:
                await self._explain_miss(conn, session, object_id)
        return self.to_api(row)

    async def delete(self, session: Session, object_id: str) -> dict[str, Any]:
        params = self._id_params(session, object_id)
        statement = self._update[(session.is_super_admin, False)]
        async with self.db.engine.begin() as conn:
            if self.payment_guard is not None:
                current = (await conn.execute(self._lock_visible[session.is_super_admin], params)).first()
                if current is not None:
                    await self.payment_guard(conn, self.to_api(current), "delete", session)
            row = (await conn.execute(statement, {"isActive": False, "updatedAt": utcnow(), **params})).first()
        if row is None:
            raise NotFound()
        return self.to_api(row)

    def _storable(self, values: dict[str, Any]) -> dict[str, Any]:
        # JSON columns hold JSON: ids and dates inside arrays are stored as text.
        return {
            name: json_value(value) if name in self.obj.fields and self.obj.fields[name].type == "array" else value
            for name, value in values.items()
        }

    async def _explain_miss(self, conn: AsyncConnection, session: Session, object_id: str) -> None:
        statement = self._id_if_visible[session.is_super_admin]
        exists = (await conn.execute(statement, self._id_params(session, object_id))).first()
        if exists is not None:
            raise Conflict("recordVersion: the record was changed since you read it; read it again", field="recordVersion")
        raise NotFound()

    # -- list helpers ----------------------------------------------------

    def _filters(self, filters: tuple[tuple[str, str], ...]) -> list[ColumnElement[bool]]:
        clauses = []
        for name, raw in filters:
            field = self.obj.fields.get(name)
            if field is None or field.type not in FILTERABLE:
                raise BadInput(f"{name}: is not a filterable field of {self.obj.name}", field=name)
            clauses.append(self.table.c[name] == _parse_filter(name, field.type, raw, field.values))
        return clauses

    def _order_by(self, sort: str) -> list[Any]:
        order = []
        for part in filter(None, (p.strip() for p in sort.split(","))):
            name = part.lstrip("-+")
            sortable = name in ("createdAt", "updatedAt", "id") or (
                name in self.obj.fields and self.obj.fields[name].type in FILTERABLE
            )
            if not sortable:
                raise BadInput(f"sort: cannot sort by `{name}`", field="sort")
            column = self.table.c[name]
            order.append(column.desc() if part.startswith("-") else column.asc())
        order.append(self.table.c.id.asc())  # a stable order across pages
        return order


def json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def _parse_filter(name: str, kind: str, raw: str, values: tuple[str, ...] | None) -> Any:
    check_storable(raw, name)
    try:
        match kind:
            case "integer":
                return int(raw)
            case "double":
                return float(raw)
            case "boolean":
                if raw not in ("true", "false"):
                    raise ValueError
                return raw == "true"
            case "id":
                return uuid.UUID(raw)
            case "date":
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            case "enum":
                if raw not in (values or ()):
                    raise ValueError
                return raw
    except ValueError:
        raise BadInput(f"{name}: `{raw}` is not a valid {kind} value", field=name) from None
    return raw
