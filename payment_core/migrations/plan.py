"""Bring a database to what the code and the app spec need, adding and never destroying."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.autogenerate import produce_migrations
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, false, text, true
from sqlalchemy.schema import DefaultClause

from payment_core.errors import MigrationRefused

_HERE = Path(__file__).parent
# Alembic narrates every comparison at INFO, at every start; orderpay reports what it changed itself.
logging.getLogger("alembic").setLevel(logging.WARNING)
# Any constant works: it names "orderpay's schema lock" among the database's advisory locks.
_POSTGRES_LOCK_KEY = 0x6F72646572706179


@dataclass
class SchemaPlan:
    """What `upgrade_schema` would do (or did) to a database."""

    revision: str | None  # the database's Alembic revision; None: never migrated
    head: str  # the newest revision in the code
    additions: list[str] = field(default_factory=list)  # additive operations, described
    kept: list[str] = field(default_factory=list)  # in the database, no longer in the spec: left alone
    refused: list[str] = field(default_factory=list)  # changes that need a person

    @property
    def behind(self) -> bool:
        """True when the database needs `orderpay db upgrade` before this code can use it."""
        return self.revision != self.head or bool(self.additions) or bool(self.refused)

    def describe(self) -> str:
        lines = [f"revision: {self.revision or '(none: never migrated)'} (code: {self.head})"]
        lines += [f"to add: {item}" for item in self.additions]
        lines += [f"kept (not in the spec): {item}" for item in self.kept]
        lines += [f"refused: {item}" for item in self.refused]
        if not self.behind:
            lines.append("up to date")
        return "\n".join(lines)


def script_directory() -> ScriptDirectory:
    return ScriptDirectory(str(_HERE), version_locations=[str(_HERE / "versions")])


def plan_schema(conn: Connection, metadata: MetaData) -> SchemaPlan:
    """Compare the database on `conn` with `metadata`; changes nothing."""
    plan, _ = _compare(conn, metadata)
    return plan


def upgrade_schema(conn: Connection, metadata: MetaData) -> SchemaPlan:
    """Run the pending revisions, then the additive operations, in the caller's transaction.
    Raises `MigrationRefused` (before changing anything) when a change would need a person."""
    if conn.dialect.name == "postgresql":
        # Replicas starting together, or an upgrade beside a start: one at a time.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK_KEY})
    plan, operations = _compare(conn, metadata)
    if plan.refused:
        raise MigrationRefused(
            "The database cannot be brought to this spec without a person deciding; nothing was changed.\n"
            + "\n".join(f"  - {item}" for item in plan.refused)
        )
    script = script_directory()
    context = MigrationContext.configure(
        conn, opts={"script": script, "fn": lambda revision, _: script._upgrade_revs("head", revision)})
    with Operations.context(context):
        context.run_migrations()
    operate = Operations(context)
    for operation in operations:
        operate.invoke(operation)
    plan.revision = script.get_current_head()
    return plan


def _compare(conn: Connection, metadata: MetaData) -> tuple[SchemaPlan, list[ops.MigrateOperation]]:
    script = script_directory()
    context = MigrationContext.configure(conn, opts={
        # Types and server defaults reflect differently per database (JSONB, DOUBLE PRECISION,
        # SQLite's affinities); comparing them would report changes that are not there.
        "compare_type": False,
        "compare_server_default": False,
        "include_object": _ours,
    })
    plan = SchemaPlan(revision=context.get_current_revision(), head=script.get_current_head() or "")
    operations: list[ops.MigrateOperation] = []
    for operation in produce_migrations(context, metadata).upgrade_ops.ops:
        if isinstance(operation, ops.ModifyTableOps):
            operations += [op for op in (_classify(plan, child) for child in operation.ops) if op is not None]
        else:
            classified = _classify(plan, operation)
            if classified is not None:
                operations.append(classified)
    return plan, operations


def _ours(_obj: Any, _name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # A table in the database that the spec does not derive is someone else's: never a "removal".
    return not (type_ == "table" and reflected and compare_to is None)


def _classify(plan: SchemaPlan, operation: ops.MigrateOperation) -> ops.MigrateOperation | None:
    """The operation to apply, or None; records it in the plan as an addition, kept or refused."""
    if isinstance(operation, ops.CreateTableOp):
        plan.additions.append(f"table {operation.table_name}")
        return operation
    if isinstance(operation, ops.CreateIndexOp):
        columns = ", ".join(str(getattr(c, "name", c)) for c in operation.columns)
        plan.additions.append(f"index {operation.index_name} on {operation.table_name} ({columns})")
        return operation
    if isinstance(operation, ops.AddColumnOp):
        column = _addable(operation.column)
        if column is None:
            plan.refused.append(
                f"column {operation.table_name}.{operation.column.name} is required (NOT NULL) and has no "
                "default, so existing rows would have no value for it: add it in a revision with a backfill")
            return None
        plan.additions.append(f"column {operation.table_name}.{column.name}")
        return ops.AddColumnOp(operation.table_name, column, schema=operation.schema)
    if isinstance(operation, ops.DropIndexOp):
        plan.kept.append(f"index {operation.index_name} on {operation.table_name}")
        return None
    if isinstance(operation, ops.DropColumnOp):
        column = operation.to_column()
        if not column.nullable and column.server_default is None:
            plan.refused.append(
                f"column {operation.table_name}.{column.name} is no longer in the spec but is required (NOT NULL "
                "without a default), so new rows could not be written: drop it, or give it a default, yourself")
        else:
            plan.kept.append(f"column {operation.table_name}.{column.name}")
        return None
    if isinstance(operation, ops.AlterColumnOp):
        plan.refused.append(f"column {operation.table_name}.{operation.column_name} changed "
                            "(nullability): write a revision for it")
        return None
    if isinstance(operation, ops.AddConstraintOp):
        plan.refused.append(f"a new constraint on {getattr(operation, 'table_name', '?')} could fail on "
                            "existing rows: write a revision for it")
        return None
    if isinstance(operation, ops.DropConstraintOp):
        plan.kept.append(f"constraint {operation.constraint_name} on {operation.table_name}")
        return None
    plan.refused.append(f"an unexpected change ({type(operation).__name__}): write a revision for it")
    return None


def _addable(column: Column[Any]) -> Column[Any] | None:
    """A copy of `column` that `ALTER TABLE ... ADD COLUMN` can add to a table with rows, or None."""
    added = column._copy()
    if added.nullable or added.server_default is not None:
        return added
    default = column.default
    if default is not None and default.is_scalar and isinstance(default.arg, (bool, int, float, str)):  # type: ignore[attr-defined]
        # e.g. an object becoming an order object gains `paymentConfirmation` NOT NULL default "pending"
        value = default.arg  # type: ignore[attr-defined]
        literal = (true() if value else false()) if isinstance(value, bool) else value if isinstance(value, str) \
            else text(str(value))  # a str is quoted by SQLAlchemy
        added.server_default = DefaultClause(literal)
        return added
    return None
