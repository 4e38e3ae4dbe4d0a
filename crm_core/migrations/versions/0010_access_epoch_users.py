"""users: a change of name, language or active flag, or a deleted user, moves access_epoch

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 06:00:00.000000

The screen pop keeps each agent's principal (name, language, roles, teams) between pops and
trusts it while ``access_epoch`` has not moved (``web.screenpop_wiring.PrincipalCache``). Roles
and teams already move the count (0009); this adds what the principal reads from ``users``
itself: ``username``, ``language`` and ``is_active`` changes and deletions. Other columns
(``last_login_at`` on every sign-in, passwords, display names) do not move it, so that signing
in does not throw away every cached scope and principal. PostgreSQL: a statement-level trigger
with a column list; SQLite: row-level triggers (``UPDATE OF`` the same columns).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = "username, language, is_active"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # bump_access_epoch() comes from 0009.
        op.execute(
            f"CREATE TRIGGER bump_access_epoch AFTER UPDATE OF {COLUMNS} OR DELETE OR TRUNCATE "
            "ON users FOR EACH STATEMENT EXECUTE FUNCTION bump_access_epoch()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER bump_access_epoch_users_update AFTER UPDATE OF {COLUMNS} ON users "
            "BEGIN UPDATE access_epoch SET n = n + 1 WHERE id = 1; END"
        )
        op.execute(
            "CREATE TRIGGER bump_access_epoch_users_delete AFTER DELETE ON users "
            "BEGIN UPDATE access_epoch SET n = n + 1 WHERE id = 1; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS bump_access_epoch ON users")
    else:
        op.execute("DROP TRIGGER IF EXISTS bump_access_epoch_users_update")
        op.execute("DROP TRIGGER IF EXISTS bump_access_epoch_users_delete")
