"""crm: trigram indexes for the quick search

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 23:10:00.000000

The quick search looks for a text anywhere in a person's names, nickname, e-mail addresses and
phone numbers (``LIKE '%text%'``), which a B-tree cannot serve. On PostgreSQL these are
``pg_trgm`` GIN indexes (the extension is created if missing), which let
``crm_core.crm.repository.search_records`` collect the matches instead of reading every person.
SQLite has no trigram indexes: it gets plain indexes of the same names (as the models declare
them; unused by the search, which reads the table there as before).
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (index, table, column)
INDEXES = [
    ("ix_persons_given_name_trgm", "persons", "given_name"),
    ("ix_persons_family_name_trgm", "persons", "family_name"),
    ("ix_persons_nickname_trgm", "persons", "nickname"),
    ("ix_emails_address_trgm", "emails", "address"),
    ("ix_phones_e164_trgm", "phones", "e164"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        op.create_index(
            name,
            table,
            [column],
            if_not_exists=True,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table, if_exists=True)
    # pg_trgm stays: other objects may use it, and it costs nothing unused.
