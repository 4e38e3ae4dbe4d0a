"""console: disposition codes, call dispositions, callbacks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 21:45:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (code, label, category, requires_callback)
GLOBAL_CODES = [
    ("SALE", "Sale / success", "success", False),
    ("RESOLVED", "Request resolved", "success", False),
    ("INFO", "Information given", "success", False),
    ("CALLBACK", "Call back later", "callback", True),
    ("NO_ANSWER", "No answer", "no_contact", False),
    ("BUSY", "Busy", "no_contact", False),
    ("VOICEMAIL", "Answering machine / voicemail", "no_contact", False),
    ("WRONG_NUMBER", "Wrong number", "other", False),
    ("NOT_INTERESTED", "Not interested", "not_interested", False),
    ("DNC", "Do not call again", "do_not_call", False),
    ("OTHER", "Other", "other", False),
]


def upgrade() -> None:
    codes = op.create_table(
        "disposition_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("requires_callback", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposition_codes")),
        sa.UniqueConstraint(
            "campaign_id", "code", name="uq_disposition_codes_campaign_id_code"
        ),
    )
    op.create_index(
        op.f("ix_disposition_codes_campaign_id"), "disposition_codes", ["campaign_id"]
    )
    op.create_index(
        "uq_disposition_codes_global_code",
        "disposition_codes",
        ["code"],
        unique=True,
        sqlite_where=sa.text("campaign_id IS NULL"),
        postgresql_where=sa.text("campaign_id IS NULL"),
    )
    op.create_table(
        "call_wrapups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("pbx", sa.String(length=32), nullable=True),
        sa.Column("agent_user_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("category", sa.String(length=24), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("disposition_user_id", sa.Integer(), nullable=True),
        sa.Column("disposition_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("linked_by_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("applied_version", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_user_id"],
            ["users.id"],
            name=op.f("fk_call_wrapups_agent_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_call_wrapups_company_id_companies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["disposition_user_id"],
            ["users.id"],
            name=op.f("fk_call_wrapups_disposition_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["linked_by_id"],
            ["users.id"],
            name=op.f("fk_call_wrapups_linked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_call_wrapups_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_call_wrapups_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_wrapups")),
        sa.UniqueConstraint("call_id", name="uq_call_wrapups_call_id"),
    )
    op.create_index("ix_call_wrapups_pending", "call_wrapups", ["pending"])
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_local", sa.String(length=16), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'done', 'cancelled')",
            name=op.f("ck_callbacks_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_user_id"],
            ["users.id"],
            name=op.f("fk_callbacks_assigned_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["users.id"],
            name=op.f("fk_callbacks_closed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_callbacks_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_callbacks_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_callbacks_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_callbacks_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    op.create_index(op.f("ix_callbacks_assigned_user_id"), "callbacks", ["assigned_user_id"])
    op.create_index(op.f("ix_callbacks_company_id"), "callbacks", ["company_id"])
    op.create_index(op.f("ix_callbacks_person_id"), "callbacks", ["person_id"])
    op.create_index(op.f("ix_callbacks_team_id"), "callbacks", ["team_id"])
    op.create_index("ix_callbacks_status_due_at", "callbacks", ["status", "due_at"])
    op.create_index("ix_callbacks_notified_at_due_at", "callbacks", ["notified_at", "due_at"])
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("disposition_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("disposition_notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("disposition_user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("disposition_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            op.f("fk_call_records_disposition_user_id_users"),
            "users",
            ["disposition_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    now = datetime.now(UTC)
    op.bulk_insert(
        codes,
        [
            {
                "campaign_id": None,
                "code": code,
                "label": label,
                "category": category,
                "requires_callback": callback,
                "active": True,
                "position": (i + 1) * 10,
                "created_at": now,
                "updated_at": now,
            }
            for i, (code, label, category, callback) in enumerate(GLOBAL_CODES)
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_constraint(
            op.f("fk_call_records_disposition_user_id_users"), type_="foreignkey"
        )
        batch.drop_column("disposition_at")
        batch.drop_column("disposition_user_id")
        batch.drop_column("disposition_notes")
        batch.drop_column("disposition_code")
    op.drop_table("callbacks")
    op.drop_table("call_wrapups")
    op.drop_index("uq_disposition_codes_global_code", table_name="disposition_codes")
    op.drop_table("disposition_codes")
