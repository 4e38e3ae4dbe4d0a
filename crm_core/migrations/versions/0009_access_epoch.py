"""crm: access_epoch, a count of changes to what decides record visibility, kept by triggers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 05:00:00.000000

The caller-ID lookup caches each user's resolved scope (lenders, granted territories, lent teams)
and reads this count in the same statement as its rows: when the count moved since the scope was
cached, the scope is read again (``crm_core.crm.policies.ScopeCache``). The triggers add one on
every write to delegations, territory grants, team memberships and user roles, in the writer's
transaction, so no code path can change a scope without the lookup noticing. PostgreSQL: one
statement-level trigger per table (TRUNCATE included); SQLite: row-level triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("delegations", "territory_grants", "team_members", "user_roles")


def upgrade() -> None:
    op.create_table(
        "access_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_access_epoch_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_epoch")),
    )
    op.execute("INSERT INTO access_epoch (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_access_epoch() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE access_epoch SET n = n + 1 WHERE id = 1; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER bump_access_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_access_epoch()"
            )
    else:
        for table in TABLES:
            for what in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER bump_access_epoch_{table}_{what.lower()} AFTER {what} "
                    f"ON {table} BEGIN UPDATE access_epoch SET n = n + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS bump_access_epoch ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_access_epoch()")
    else:
        for table in TABLES:
            for what in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS bump_access_epoch_{table}_{what}")
    op.drop_table("access_epoch")
