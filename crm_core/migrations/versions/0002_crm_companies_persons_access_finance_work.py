"""CRM: companies, persons, contact data, access, invoices, payments, tickets, activities

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:42:29.753813
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("name", name=op.f("uq_categories_name")),
    )
    op.create_table(
        "territories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_territories")),
        sa.UniqueConstraint("name", name=op.f("uq_territories_name")),
    )
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("vat_number", sa.String(length=32), nullable=True),
        sa.Column("trade_register_number", sa.String(length=64), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("employee_count", sa.Integer(), nullable=True),
        sa.Column("turnover", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_companies_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["companies.id"],
            name=op.f("fk_companies_parent_id_companies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_companies_team_id_teams"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territories.id"],
            name=op.f("fk_companies_territory_id_territories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("code", name=op.f("uq_companies_code")),
    )
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_companies_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_team_id"), ["team_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_companies_territory_id"), ["territory_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_companies_vat_number"), ["vat_number"], unique=False)

    op.create_table(
        "delegations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_user_id", sa.Integer(), nullable=False),
        sa.Column("to_user_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("from_user_id <> to_user_id", name=op.f("ck_delegations_not_self")),
        sa.ForeignKeyConstraint(
            ["from_user_id"],
            ["users.id"],
            name=op.f("fk_delegations_from_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"],
            ["users.id"],
            name=op.f("fk_delegations_to_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegations")),
    )
    with op.batch_alter_table("delegations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delegations_from_user_id"), ["from_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_delegations_to_user_id_ends_at", ["to_user_id", "ends_at"], unique=False
        )

    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("nickname", sa.String(length=100), nullable=True),
        sa.Column("salutation", sa.String(length=100), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("id_card_number", sa.String(length=64), nullable=True),
        sa.Column("territory_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_persons_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_persons_team_id_teams"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territories.id"],
            name=op.f("fk_persons_territory_id_territories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_persons_family_name_given_name", ["family_name", "given_name"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_persons_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_persons_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_persons_territory_id"), ["territory_id"], unique=False)

    op.create_table(
        "territory_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(role IS NULL) <> (user_id IS NULL)", name=op.f("ck_territory_grants_role_or_user")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territories.id"],
            name=op.f("fk_territory_grants_territory_id_territories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_territory_grants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_territory_grants")),
    )
    with op.batch_alter_table("territory_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_territory_grants_role"), ["role"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_territory_grants_territory_id"), ["territory_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_territory_grants_user_id"), ["user_id"], unique=False)

    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("street", sa.String(length=300), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.CheckConstraint(
            "(company_id IS NULL) <> (person_id IS NULL)", name=op.f("ck_addresses_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_addresses_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_addresses_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_addresses_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_addresses_person_id"), ["person_id"], unique=False)

    op.create_table(
        "company_categories",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_company_categories_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_company_categories_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_id", "category_id", name=op.f("pk_company_categories")),
    )
    with op.batch_alter_table("company_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_company_categories_category_id"), ["category_id"], unique=False
        )

    op.create_table(
        "company_roles",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_company_roles_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_id", "role", name=op.f("pk_company_roles")),
    )
    op.create_table(
        "emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.CheckConstraint(
            "(company_id IS NULL) <> (person_id IS NULL)", name=op.f("ck_emails_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_emails_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_emails_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emails")),
    )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_emails_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_emails_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_emails_person_id"), ["person_id"], unique=False)

    op.create_table(
        "employments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("job_title", sa.String(length=100), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_employments_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_employments_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employments")),
    )
    with op.batch_alter_table("employments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_employments_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_employments_person_id"), ["person_id"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_invoices_amount_not_negative")),
        sa.CheckConstraint(
            "company_id IS NOT NULL OR person_id IS NOT NULL", name=op.f("ck_invoices_has_customer")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_invoices_company_id_companies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_invoices_person_id_persons"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("external_id", name=op.f("uq_invoices_external_id")),
        sa.UniqueConstraint("kind", "number", name="uq_invoices_kind_number"),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invoices_person_id"), ["person_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint(
            "company_id IS NOT NULL OR person_id IS NOT NULL", name=op.f("ck_payments_has_customer")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_payments_company_id_companies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_payments_person_id_persons"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("external_id", name=op.f("uq_payments_external_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_person_id"), ["person_id"], unique=False)

    op.create_table(
        "person_categories",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_person_categories_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_categories_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "category_id", name=op.f("pk_person_categories")),
    )
    with op.batch_alter_table("person_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_categories_category_id"), ["category_id"], unique=False
        )

    op.create_table(
        "phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("original", sa.String(length=64), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "(company_id IS NULL) <> (person_id IS NULL)", name=op.f("ck_phones_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_phones_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_phones_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phones")),
    )
    with op.batch_alter_table("phones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phones_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_phones_e164"), ["e164"], unique=False)
        batch_op.create_index(batch_op.f("ix_phones_person_id"), ["person_id"], unique=False)

    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("assigned_team_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "company_id IS NOT NULL OR person_id IS NOT NULL", name=op.f("ck_tickets_has_customer")
        ),
        sa.ForeignKeyConstraint(
            ["assigned_team_id"],
            ["teams.id"],
            name=op.f("fk_tickets_assigned_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_user_id"],
            ["users.id"],
            name=op.f("fk_tickets_assigned_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_tickets_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_tickets_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_tickets_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tickets_assigned_team_id"), ["assigned_team_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tickets_assigned_user_id"), ["assigned_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tickets_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_tickets_status_priority", ["status", "priority"], unique=False)

    op.create_table(
        "activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("responsible_user_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("cost", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("cost_currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["activities.id"],
            name=op.f("fk_activities_parent_id_activities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["responsible_user_id"],
            ["users.id"],
            name=op.f("fk_activities_responsible_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_activities_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activities_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_activities_responsible_user_id"), ["responsible_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_activities_starts_at"), ["starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "payment_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_allocations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_payment_allocations_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_allocations_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_allocations")),
    )
    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_allocations_invoice_id"), ["invoice_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_allocations_payment_id"), ["payment_id"], unique=False
        )

    op.create_table(
        "activity_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(CASE WHEN person_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN user_id IS NULL THEN 0 ELSE 1 END) = 1",
            name=op.f("ck_activity_participants_exactly_one"),
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_participants_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_activity_participants_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_activity_participants_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_activity_participants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_participants")),
    )
    with op.batch_alter_table("activity_participants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activity_participants_activity_id"), ["activity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_activity_participants_company_id"), ["company_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_activity_participants_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_activity_participants_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("activity_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_participants_user_id"))
        batch_op.drop_index(batch_op.f("ix_activity_participants_person_id"))
        batch_op.drop_index(batch_op.f("ix_activity_participants_company_id"))
        batch_op.drop_index(batch_op.f("ix_activity_participants_activity_id"))

    op.drop_table("activity_participants")
    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_allocations_payment_id"))
        batch_op.drop_index(batch_op.f("ix_payment_allocations_invoice_id"))

    op.drop_table("payment_allocations")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_activities_starts_at"))
        batch_op.drop_index(batch_op.f("ix_activities_responsible_user_id"))
        batch_op.drop_index(batch_op.f("ix_activities_parent_id"))

    op.drop_table("activities")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_status_priority")
        batch_op.drop_index(batch_op.f("ix_tickets_person_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_company_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_assigned_user_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_assigned_team_id"))

    op.drop_table("tickets")
    with op.batch_alter_table("phones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phones_person_id"))
        batch_op.drop_index(batch_op.f("ix_phones_e164"))
        batch_op.drop_index(batch_op.f("ix_phones_company_id"))

    op.drop_table("phones")
    with op.batch_alter_table("person_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_categories_category_id"))

    op.drop_table("person_categories")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_person_id"))
        batch_op.drop_index(batch_op.f("ix_payments_company_id"))

    op.drop_table("payments")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_person_id"))
        batch_op.drop_index(batch_op.f("ix_invoices_company_id"))

    op.drop_table("invoices")
    with op.batch_alter_table("employments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_employments_person_id"))
        batch_op.drop_index(batch_op.f("ix_employments_company_id"))

    op.drop_table("employments")
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emails_person_id"))
        batch_op.drop_index(batch_op.f("ix_emails_company_id"))
        batch_op.drop_index(batch_op.f("ix_emails_address"))

    op.drop_table("emails")
    op.drop_table("company_roles")
    with op.batch_alter_table("company_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_company_categories_category_id"))

    op.drop_table("company_categories")
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_addresses_person_id"))
        batch_op.drop_index(batch_op.f("ix_addresses_company_id"))

    op.drop_table("addresses")
    with op.batch_alter_table("territory_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_territory_grants_user_id"))
        batch_op.drop_index(batch_op.f("ix_territory_grants_territory_id"))
        batch_op.drop_index(batch_op.f("ix_territory_grants_role"))

    op.drop_table("territory_grants")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_persons_territory_id"))
        batch_op.drop_index(batch_op.f("ix_persons_team_id"))
        batch_op.drop_index(batch_op.f("ix_persons_owner_id"))
        batch_op.drop_index("ix_persons_family_name_given_name")

    op.drop_table("persons")
    with op.batch_alter_table("delegations", schema=None) as batch_op:
        batch_op.drop_index("ix_delegations_to_user_id_ends_at")
        batch_op.drop_index(batch_op.f("ix_delegations_from_user_id"))

    op.drop_table("delegations")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_companies_vat_number"))
        batch_op.drop_index(batch_op.f("ix_companies_territory_id"))
        batch_op.drop_index(batch_op.f("ix_companies_team_id"))
        batch_op.drop_index(batch_op.f("ix_companies_parent_id"))
        batch_op.drop_index(batch_op.f("ix_companies_owner_id"))
        batch_op.drop_index(batch_op.f("ix_companies_name"))

    op.drop_table("companies")
    op.drop_table("territories")
    op.drop_table("categories")
