"""Database migrations: Alembic revisions, then the additive changes an app spec asks for.

Tables are derived from the app spec, so a spec that gains a field, an index or an order object
needs a schema change no one wrote by hand. After the versioned revisions in `versions/`, the
database is compared with the spec-derived metadata (Alembic's autogenerate comparison) and only
additive operations are applied: create a table, add a column (nullable, or with a server
default), create an index. Anything else is refused with a message saying what and why
(`MigrationRefused`); columns and indexes the spec no longer names are kept, never dropped, and
tables the spec does not know are left alone (the database may hold other things).
"""
from __future__ import annotations

from payment_core.migrations.plan import MigrationRefused, SchemaPlan, plan_schema, upgrade_schema

__all__ = ["MigrationRefused", "SchemaPlan", "plan_schema", "upgrade_schema"]
