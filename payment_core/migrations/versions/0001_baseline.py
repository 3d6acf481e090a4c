"""Baseline: the database is managed by orderpay's migrations from here on.

Tables themselves (the spec's objects and the system tables derived from them) are created and
grown by the additive step that runs after the revisions (`payment_core.migrations.plan`). A
change that step cannot make safely (a rename, a backfill, a column that becomes required) is
a new revision in this folder, `down_revision` naming the one before it.
"""

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
