"""crm: a B-tree on (given_name, family_name) for the quick search's prefix walks

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:00:00.000000

The quick search reads the persons whose name starts with the text by walking a B-tree in name
order and stopping after a few hundred rows (``crm_core.crm.repository._prefix_arms``): the family
name first on the existing ``ix_persons_family_name_given_name``, the given name first ("Maria",
"Maria Pap") on this one. The trigram indexes of 0007 find every match before the first is read,
which for a common name (25,000-70,000 of 1M persons) cost 10-25 ms on their own. A plain index,
the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_persons_given_name_family_name",
        "persons",
        ["given_name", "family_name"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_persons_given_name_family_name", table_name="persons", if_exists=True)
