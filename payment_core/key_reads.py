"""A SELECT of one row by key, for the hottest reads (a REST GET, an MCP `getOrder`).

SQLAlchemy's execution of even a cached statement (its execution context, result metadata and
row objects) costs about 20 µs on this machine, twice the read itself on a SQLite file. On SQLite
a `KeyRead` runs its statement, compiled once, on the DBAPI connection under the caller's
SQLAlchemy connection, with the types' own bind and result processors: the values are those
`conn.execute(statement, params).first()` gives, at a third of the cost. Elsewhere (PostgreSQL,
where the round trip dwarfs this) it is that `execute`.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any] | None
_REQUIRED = object()  # a bound parameter with no value of its own: the caller's `params` must hold it


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # the bound parameters, in the order of the statement's `?`
    values: tuple[Any, ...]  # each one's value in the statement (a literal such as `name == "x"`), or _REQUIRED
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]


class KeyRead:
    """`first(conn, params)`: the row's values in the statement's column order, or None."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._plans: dict[Dialect, _Plan] = {}

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any] | None:
        dbapi_connection = conn.connection.dbapi_connection
        if not isinstance(dbapi_connection, sqlite3.Connection):  # PostgreSQL, or SQLite through the async engine
            return conn.execute(self.statement, params).first()
        dialect = conn.dialect
        plan = self._plans.get(dialect) or self._plan(dialect)
        values = []
        for name, own, bind in zip(plan.names, plan.values, plan.binds):
            value = params[name] if own is _REQUIRED or name in params else own
            values.append(value if bind is None else bind(value))
        raw = dbapi_connection.execute(plan.sql, values).fetchone()
        if raw is None:
            return None
        return tuple(value if result is None or value is None else result(value)
                     for value, result in zip(raw, plan.results))

    def _plan(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        plan = _Plan(
            sql=compiled.string,
            names=names,
            values=tuple(_REQUIRED if compiled.binds[name].required else compiled.binds[name].value for name in names),
            binds=tuple(compiled.binds[name].type._cached_bind_processor(dialect) for name in names),
            results=tuple(column.type._cached_result_processor(dialect, None)
                          for column in self.statement.selected_columns),
        )
        self._plans[dialect] = plan
        return plan
