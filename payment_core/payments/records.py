"""Data-access functions of the system objects (seed 004's dbLayer, in Python naming).

Custom code — edge functions, scripts — and orderpay's own REST and MCP layers use
these. Every write also writes its `dbevent` (created / updated / deleted) to the
outbox in the same transaction. Each function takes an optional `conn` to join a
transaction already open; without it the call is its own transaction.
"""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Select, Table, Update, and_, bindparam, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from payment_core.clock import utcnow
from payment_core.db import Database
from payment_core.errors import BadInput
from payment_core.events import insert_events, write_event
from payment_core.objects import json_value, parse_uuid

Query = Mapping[str, Any]  # field -> value (equality) or a list/tuple of values (IN)


class Where(NamedTuple):
    shape: tuple[Any, ...]  # what the statement depends on: the fields, and which hold lists
    clause: ColumnElement[bool]
    params: dict[str, Any]


class SystemStore:
    """create, create_bulk, get_by_id, get_by_query, list_by_query, stats_by_query, id_list_by_field,
    update_by_id, update_by_id_list, update_by_query, delete_by_id, delete_by_query — for one system object."""

    def __init__(self, db: Database, table: Table, outbox: Table, topic: str) -> None:
        self.db, self.table, self.outbox = db, table, outbox
        self.topic = topic  # `...-dbevent-sys_paymentmethod`; `-created` etc. is appended
        # Statements are built once per query shape, with the values as parameters (see `_where`).
        self._clauses: dict[tuple[Any, ...], ColumnElement[bool]] = {}
        self._first: dict[tuple[Any, ...], Select[Any]] = {}
        self._updates: dict[tuple[Any, ...], Update] = {}
        self._insert = table.insert().returning(*table.c)
        # A write that changes nothing: it takes the row's lock (PostgreSQL) or the database's write lock (SQLite).
        self._lock = (update(table).where(table.c.id == bindparam("q_id"))
                      .values(isActive=table.c.isActive).returning(*table.c))

    @asynccontextmanager
    async def _tx(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
        else:
            async with self.db.engine.begin() as own:
                yield own

    def to_api(self, row: Any) -> dict[str, Any]:
        return self.from_columns(row._mapping)

    @staticmethod
    def from_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
        return {name: json_value(value) for name, value in columns.items()}

    def _where(self, query: Query, *, include_inactive: bool = False) -> Where:
        """The query's clause, with its values as bound parameters, and those parameters.

        Clauses are built once per query shape (its fields, and which hold lists): building a
        SQLAlchemy expression costs more than running it. Parameter names start with `q_`,
        which no column's does, so they never become the SET values of an update.
        """
        shape = _shape(query, include_inactive)
        clause = self._clauses.get(shape)
        if clause is None:
            clauses: list[ColumnElement[bool]] = [] if include_inactive else [self.table.c.isActive.is_(True)]
            for name, many in shape[1:]:
                if name not in self.table.c:
                    raise BadInput(f"{name}: is not a field of {self.table.name}", field=name)
                column = self.table.c[name]
                clauses.append(column.in_(bindparam(f"q_{name}", expanding=True)) if many
                               else column == bindparam(f"q_{name}"))
            clause = and_(true(), *clauses)
            if len(self._clauses) < 256:  # shapes come from code, not from users; never grow without bound
                self._clauses[shape] = clause
        params = {f"q_{name}": list(value) if isinstance(value, (list, tuple, set)) else value
                  for name, value in query.items()}
        return Where(shape, clause, params)

    def _first_matching(self, query: Query, include_inactive: bool) -> tuple[Select[Any], dict[str, Any]]:
        where = self._where(query, include_inactive=include_inactive)
        statement = self._first.get(where.shape)
        if statement is None:
            statement = select(self.table).where(where.clause).limit(1)
            if where.shape in self._clauses:
                self._first[where.shape] = statement
        return statement, where.params

    def update_where(self, query: Query) -> tuple[Update, dict[str, Any]]:
        """The version-bumping `UPDATE ... RETURNING *` of the records matching `query` (deleted ones
        too) and its WHERE parameters; run it with those and the values to SET, named after columns."""
        where = self._where(query, include_inactive=True)
        return self._update_matching(where), where.params

    def _update_matching(self, where: Where) -> Update:
        """`UPDATE ... WHERE <query> RETURNING *` that bumps the version; the SET values come as parameters."""
        statement = self._updates.get(where.shape)
        if statement is None:
            statement = (update(self.table).where(where.clause)
                         .values(recordVersion=self.table.c.recordVersion + 1).returning(*self.table.c))
            if where.shape in self._clauses:
                self._updates[where.shape] = statement
        return statement

    async def _rows(self, statement: Any, conn: AsyncConnection | None, params: dict[str, Any] | None = None) -> Sequence[Row[Any]]:
        """A read: in the caller's transaction when given one, else one unit of work of its own."""
        if conn is not None:
            return (await conn.execute(statement, params)).all()

        def read(own: Connection) -> Sequence[Row[Any]]:
            return own.execute(statement, params).all()

        return await self.db.read(read)

    async def _emit(self, conn: AsyncConnection, event: str, record: dict[str, Any]) -> None:
        await write_event(conn, self.outbox, f"{self.topic}-{event}", {"record": record}, key=record["id"])

    async def create(self, values: Mapping[str, Any], *, conn: AsyncConnection | None = None) -> dict[str, Any]:
        async with self._tx(conn) as tx:
            return await tx.run_sync(self.add, values)

    def add(self, conn: Connection, values: Mapping[str, Any]) -> dict[str, Any]:
        """`create` in the caller's transaction, as part of a unit of work (`Database.write`)."""
        now = utcnow()
        row_values = {"id": uuid.uuid4(), "isActive": True, "recordVersion": 1, "createdAt": now, "updatedAt": now,
                      **values}
        record = self.to_api(conn.execute(self._insert, row_values).one())
        insert_events(conn, self.outbox, [(f"{self.topic}-created", {"record": record}, record["id"])])
        return record

    def first(self, conn: Connection, query: Query, *, include_inactive: bool = False) -> dict[str, Any] | None:
        """`get_by_query` in the caller's transaction, as part of a unit of work."""
        statement, params = self._first_matching(query, include_inactive)
        row = conn.execute(statement, params).first()
        return self.to_api(row) if row is not None else None

    async def create_bulk(self, rows: Sequence[Mapping[str, Any]], *, conn: AsyncConnection | None = None) -> list[dict[str, Any]]:
        async with self._tx(conn) as tx:
            return [await self.create(values, conn=tx) for values in rows]

    async def get_by_id(self, record_id: uuid.UUID | str, *, conn: AsyncConnection | None = None) -> dict[str, Any] | None:
        return await self.get_by_query({"id": parse_uuid(record_id, field="id")}, conn=conn)

    async def lock_by_id(self, record_id: uuid.UUID | str, *, conn: AsyncConnection) -> dict[str, Any] | None:
        """Lock a record in the caller's transaction and read it as it is once locked (deleted ones
        too): what changes it next, from what it read, cannot be overtaken."""
        row = (await conn.execute(self._lock, {"q_id": parse_uuid(record_id, field="id")})).first()
        return self.to_api(row) if row is not None else None

    async def get_by_query(self, query: Query, *, conn: AsyncConnection | None = None,
                           for_update: bool = False, include_inactive: bool = False) -> dict[str, Any] | None:
        statement, params = self._first_matching(query, include_inactive)
        if for_update:
            async with self._tx(conn) as tx:
                rows = (await tx.execute(statement.with_for_update(), params)).all()
        else:
            rows = await self._rows(statement, conn, params)
        return self.to_api(rows[0]) if rows else None

    async def list_by_query(self, query: Query, *, conn: AsyncConnection | None = None, limit: int | None = None,
                            offset: int = 0, newest_first: bool = True) -> list[dict[str, Any]]:
        order = self.table.c.createdAt.desc() if newest_first else self.table.c.createdAt.asc()
        where = self._where(query)
        statement = select(self.table).where(where.clause).order_by(order, self.table.c.id).offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        return [self.to_api(row) for row in await self._rows(statement, conn, where.params)]

    async def stats_by_query(self, query: Query, *, conn: AsyncConnection | None = None) -> dict[str, int]:
        where = self._where(query)
        rows = await self._rows(select(func.count()).select_from(self.table).where(where.clause), conn, where.params)
        return {"count": rows[0][0]}

    async def id_list_by_field(self, field: str, value: Any, *, conn: AsyncConnection | None = None) -> list[str]:
        where = self._where({field: value})
        rows = await self._rows(select(self.table.c.id).where(where.clause), conn, where.params)
        return [str(row.id) for row in rows]

    async def update_by_id(self, record_id: uuid.UUID | str, values: Mapping[str, Any], *,
                           conn: AsyncConnection | None = None, include_inactive: bool = False) -> dict[str, Any] | None:
        """`include_inactive` reaches a deleted record too, e.g. to restore it with `{"isActive": True}`."""
        records = await self._update(self._where({"id": parse_uuid(record_id, field="id")}, include_inactive=include_inactive), values, conn)
        return records[0] if records else None

    async def update_by_id_list(self, ids: Sequence[uuid.UUID | str], values: Mapping[str, Any], *,
                                conn: AsyncConnection | None = None) -> int:
        return len(await self._update(self._where({"id": [parse_uuid(i, field="id") for i in ids]}), values, conn))

    async def update_by_query(self, query: Query, values: Mapping[str, Any], *, conn: AsyncConnection | None = None) -> int:
        return len(await self._update(self._where(query), values, conn))

    async def delete_by_id(self, record_id: uuid.UUID | str, *, conn: AsyncConnection | None = None) -> dict[str, Any] | None:
        records = await self._update(self._where({"id": parse_uuid(record_id, field="id")}), {"isActive": False}, conn, event="deleted")
        return records[0] if records else None

    async def delete_by_query(self, query: Query, *, conn: AsyncConnection | None = None) -> int:
        return len(await self._update(self._where(query), {"isActive": False}, conn, event="deleted"))

    async def _update(self, where: Where, values: Mapping[str, Any], conn: AsyncConnection | None,
                      *, event: str = "updated") -> list[dict[str, Any]]:
        statement = self._update_matching(where)
        params = {**values, "updatedAt": utcnow(), **where.params}
        async with self._tx(conn) as tx:
            records = [self.to_api(row) for row in (await tx.execute(statement, params)).all()]
            for record in records:
                await self._emit(tx, event, record)
        return records


def _shape(query: Query, include_inactive: bool) -> tuple[Any, ...]:
    """What a query's statement depends on: its fields and which of them hold lists, not the values."""
    return (include_inactive, *((name, isinstance(value, (list, tuple, set))) for name, value in query.items()))
