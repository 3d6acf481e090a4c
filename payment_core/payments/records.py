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
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Row, Select, Table, and_, bindparam, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from payment_core.db import Database
from payment_core.errors import BadInput
from payment_core.events import write_event
from payment_core.objects import json_value

Query = Mapping[str, Any]  # field -> value (equality) or a list/tuple of values (IN)


class SystemStore:
    """create, create_bulk, get_by_id, get_by_query, list_by_query, stats_by_query, id_list_by_field,
    update_by_id, update_by_id_list, update_by_query, delete_by_id, delete_by_query — for one system object."""

    def __init__(self, db: Database, table: Table, outbox: Table, topic: str) -> None:
        self.db, self.engine, self.table, self.outbox = db, db.engine, table, outbox
        self.topic = topic  # `...-dbevent-sys_paymentmethod`; `-created` etc. is appended
        self._clauses: dict[tuple[Any, ...], ColumnElement[bool]] = {}
        self._first: dict[tuple[Any, ...], Select[Any]] = {}

    @asynccontextmanager
    async def _tx(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
        else:
            async with self.engine.begin() as own:
                yield own

    def to_api(self, row: Any) -> dict[str, Any]:
        return self.from_columns(row._mapping)

    @staticmethod
    def from_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
        return {name: json_value(value) for name, value in columns.items()}

    def _where(self, query: Query, *, include_inactive: bool = False) -> tuple[ColumnElement[bool], dict[str, Any]]:
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
        return clause, params

    def _first_matching(self, query: Query, include_inactive: bool) -> tuple[Select[Any], dict[str, Any]]:
        where, params = self._where(query, include_inactive=include_inactive)
        shape = _shape(query, include_inactive)
        statement = self._first.get(shape)
        if statement is None:
            statement = select(self.table).where(where).limit(1)
            if shape in self._clauses:
                self._first[shape] = statement
        return statement, params

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
        now = datetime.now(timezone.utc)
        row_values = {"id": uuid.uuid4(), "isActive": True, "recordVersion": 1, "createdAt": now, "updatedAt": now,
                      **values}
        async with self._tx(conn) as tx:
            row = (await tx.execute(self.table.insert().values(**row_values).returning(*self.table.c))).one()
            record = self.to_api(row)
            await self._emit(tx, "created", record)
        return record

    async def create_bulk(self, rows: Sequence[Mapping[str, Any]], *, conn: AsyncConnection | None = None) -> list[dict[str, Any]]:
        async with self._tx(conn) as tx:
            return [await self.create(values, conn=tx) for values in rows]

    async def get_by_id(self, record_id: uuid.UUID | str, *, conn: AsyncConnection | None = None) -> dict[str, Any] | None:
        return await self.get_by_query({"id": _uuid(record_id)}, conn=conn)

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
        where, params = self._where(query)
        statement = select(self.table).where(where).order_by(order, self.table.c.id).offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        return [self.to_api(row) for row in await self._rows(statement, conn, params)]

    async def stats_by_query(self, query: Query, *, conn: AsyncConnection | None = None) -> dict[str, int]:
        where, params = self._where(query)
        rows = await self._rows(select(func.count()).select_from(self.table).where(where), conn, params)
        return {"count": rows[0][0]}

    async def id_list_by_field(self, field: str, value: Any, *, conn: AsyncConnection | None = None) -> list[str]:
        where, params = self._where({field: value})
        rows = await self._rows(select(self.table.c.id).where(where), conn, params)
        return [str(row.id) for row in rows]

    async def update_by_id(self, record_id: uuid.UUID | str, values: Mapping[str, Any], *,
                           conn: AsyncConnection | None = None, include_inactive: bool = False) -> dict[str, Any] | None:
        """`include_inactive` reaches a deleted record too, e.g. to restore it with `{"isActive": True}`."""
        records = await self._update(self._where({"id": _uuid(record_id)}, include_inactive=include_inactive), values, conn)
        return records[0] if records else None

    async def update_by_id_list(self, ids: Sequence[uuid.UUID | str], values: Mapping[str, Any], *,
                                conn: AsyncConnection | None = None) -> int:
        return len(await self._update(self._where({"id": [_uuid(i) for i in ids]}), values, conn))

    async def update_by_query(self, query: Query, values: Mapping[str, Any], *, conn: AsyncConnection | None = None) -> int:
        return len(await self._update(self._where(query), values, conn))

    async def delete_by_id(self, record_id: uuid.UUID | str, *, conn: AsyncConnection | None = None) -> dict[str, Any] | None:
        records = await self._update(self._where({"id": _uuid(record_id)}), {"isActive": False}, conn, event="deleted")
        return records[0] if records else None

    async def delete_by_query(self, query: Query, *, conn: AsyncConnection | None = None) -> int:
        return len(await self._update(self._where(query), {"isActive": False}, conn, event="deleted"))

    async def _update(self, where: tuple[ColumnElement[bool], dict[str, Any]], values: Mapping[str, Any], conn: AsyncConnection | None,
                      *, event: str = "updated") -> list[dict[str, Any]]:
        clause, params = where
        statement = (
            update(self.table)
            .where(clause)
            .values(**values, updatedAt=datetime.now(timezone.utc), recordVersion=self.table.c.recordVersion + 1)
            .returning(*self.table.c)
        )
        async with self._tx(conn) as tx:
            records = [self.to_api(row) for row in (await tx.execute(statement, params)).all()]
            for record in records:
                await self._emit(tx, event, record)
        return records


def _shape(query: Query, include_inactive: bool) -> tuple[Any, ...]:
    """What a query's statement depends on: its fields and which of them hold lists, not the values."""
    return (include_inactive, *((name, isinstance(value, (list, tuple, set))) for name, value in query.items()))


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadInput(f"id: {value!r} is not a UUID", field="id") from None
