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

from sqlalchemy import Table, and_, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from payment_core.errors import BadInput
from payment_core.events import write_event
from payment_core.objects import json_value

Query = Mapping[str, Any]  # field -> value (equality) or a list/tuple of values (IN)


class SystemStore:
    """create, create_bulk, get_by_id, get_by_query, list_by_query, stats_by_query, id_list_by_field,
    update_by_id, update_by_id_list, update_by_query, delete_by_id, delete_by_query — for one system object."""

    def __init__(self, engine: AsyncEngine, table: Table, outbox: Table, topic: str) -> None:
        self.engine, self.table, self.outbox = engine, table, outbox
        self.topic = topic  # `...-dbevent-sys_paymentmethod`; `-created` etc. is appended

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

    def _where(self, query: Query, *, include_inactive: bool = False) -> ColumnElement[bool]:
        clauses: list[ColumnElement[bool]] = [] if include_inactive else [self.table.c.isActive.is_(True)]
        for name, value in query.items():
            if name not in self.table.c:
                raise BadInput(f"{name}: is not a field of {self.table.name}", field=name)
            column = self.table.c[name]
            clauses.append(column.in_(list(value)) if isinstance(value, (list, tuple, set)) else column == value)
        return and_(true(), *clauses)

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
        statement = select(self.table).where(self._where(query, include_inactive=include_inactive)).limit(1)
        if for_update:
            statement = statement.with_for_update()
        async with self._tx(conn) as tx:
            row = (await tx.execute(statement)).first()
        return self.to_api(row) if row else None

    async def list_by_query(self, query: Query, *, conn: AsyncConnection | None = None, limit: int | None = None,
                            offset: int = 0, newest_first: bool = True) -> list[dict[str, Any]]:
        order = self.table.c.createdAt.desc() if newest_first else self.table.c.createdAt.asc()
        statement = select(self.table).where(self._where(query)).order_by(order, self.table.c.id).offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        async with self._tx(conn) as tx:
            rows = (await tx.execute(statement)).all()
        return [self.to_api(row) for row in rows]

    async def stats_by_query(self, query: Query, *, conn: AsyncConnection | None = None) -> dict[str, int]:
        async with self._tx(conn) as tx:
            count = (await tx.execute(select(func.count()).select_from(self.table).where(self._where(query)))).scalar_one()
        return {"count": count}

    async def id_list_by_field(self, field: str, value: Any, *, conn: AsyncConnection | None = None) -> list[str]:
        async with self._tx(conn) as tx:
            rows = (await tx.execute(select(self.table.c.id).where(self._where({field: value})))).all()
        return [str(row.id) for row in rows]

    async def update_by_id(self, record_id: uuid.UUID | str, values: Mapping[str, Any], *,
                           conn: AsyncConnection | None = None, include_inactive: bool = False) -> dict[str, Any] | None:
        """`include_inactive` reaches a deleted record too, e.g. to restore it with `{"isActive": True}`."""
        where = self._where({"id": _uuid(record_id)}, include_inactive=include_inactive)
        records = await self._update(where, values, conn)
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

    async def _update(self, where: ColumnElement[bool], values: Mapping[str, Any], conn: AsyncConnection | None,
                      *, event: str = "updated") -> list[dict[str, Any]]:
        statement = (
            update(self.table)
            .where(where)
            .values(**values, updatedAt=datetime.now(timezone.utc), recordVersion=self.table.c.recordVersion + 1)
            .returning(*self.table.c)
        )
        async with self._tx(conn) as tx:
            records = [self.to_api(row) for row in (await tx.execute(statement)).all()]
            for record in records:
                await self._emit(tx, event, record)
        return records


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadInput(f"id: {value!r} is not a UUID", field="id") from None
