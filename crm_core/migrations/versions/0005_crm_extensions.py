"""crm extensions: external ids, attributes, statuses, bank accounts, branches, products, contracts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:45:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = datetime.now(UTC)
    op.create_table(
        "activity_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_statuses")),
        sa.UniqueConstraint("name", name=op.f("uq_activity_statuses_name")),
    )
    op.bulk_insert(
        sa.table(
            "activity_statuses",
            sa.column("name", sa.String),
            sa.column("label", sa.String),
            sa.column("is_closed", sa.Boolean),
            sa.column("position", sa.Integer),
            sa.column("active", sa.Boolean),
            sa.column("created_at", sa.DateTime(timezone=True)),
        ),
        [
            {
                "name": name,
                "label": label,
                "is_closed": closed,
                "position": pos,
                "active": True,
                "created_at": now,
            }
            for pos, (name, label, closed) in enumerate(
                (
                    ("planned", "Planned", False),
                    ("in_progress", "In progress", False),
                    ("done", "Done", True),
                    ("cancelled", "Cancelled", True),
                )
            )
        ],
    )
    op.create_table(
        "attribute_definitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute_definitions")),
        sa.UniqueConstraint("entity_type", "name", name="uq_attribute_definitions_name"),
    )
    op.create_table(
        "lead_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_lead_sources_name")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("code", name=op.f("uq_products_code")),
    )
    op.create_table(
        "attribute_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("value_text", sa.String(length=500), nullable=True),
        sa.Column("value_number", sa.Numeric(precision=24, scale=6), nullable=True),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("value_bool", sa.Boolean(), nullable=True),
        sa.CheckConstraint(
            "(company_id IS NULL) <> (person_id IS NULL)",
            name=op.f("ck_attribute_values_one_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_attribute_values_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["attribute_definitions.id"],
            name=op.f("fk_attribute_values_definition_id_attribute_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_attribute_values_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute_values")),
        sa.UniqueConstraint("definition_id", "company_id", name="uq_attribute_values_company"),
        sa.UniqueConstraint("definition_id", "person_id", name="uq_attribute_values_person"),
    )
    with op.batch_alter_table("attribute_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attribute_values_bool", ["definition_id", "value_bool"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attribute_values_company_id"), ["company_id"], unique=False
        )
        batch_op.create_index(
            "ix_attribute_values_date", ["definition_id", "value_date"], unique=False
        )
        batch_op.create_index(
            "ix_attribute_values_number", ["definition_id", "value_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attribute_values_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            "ix_attribute_values_text", ["definition_id", "value_text"], unique=False
        )

    op.create_table(
        "bank_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("bank_name", sa.String(length=200), nullable=False),
        sa.Column("bic", sa.String(length=11), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_bank_accounts_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_accounts")),
        sa.UniqueConstraint("company_id", "iban", name="uq_bank_accounts_iban"),
    )
    op.create_table(
        "branches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("street", sa.String(length=300), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("manager_person_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_branches_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["manager_person_id"],
            ["persons.id"],
            name=op.f("fk_branches_manager_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
        sa.UniqueConstraint("company_id", "code", name="uq_branches_code"),
    )
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_branches_manager_person_id"), ["manager_person_id"], unique=False
        )

    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("value", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="prospect"),
        sa.Column("renewal_on", sa.Date(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "company_id IS NOT NULL OR person_id IS NOT NULL",
            name=op.f("ck_contracts_has_customer"),
        ),
        sa.CheckConstraint(
            "value IS NULL OR value >= 0", name=op.f("ck_contracts_value_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_contracts_company_id_companies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_contracts_person_id_persons"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_contracts_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("number", name=op.f("uq_contracts_number")),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contracts_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contracts_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contracts_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contracts_renewal_on"), ["renewal_on"], unique=False)

    op.create_table(
        "held_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("acquired_on", sa.Date(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(company_id IS NULL) <> (person_id IS NULL)", name=op.f("ck_held_products_one_owner")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_held_products_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_held_products_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_held_products_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_held_products_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_products")),
    )
    with op.batch_alter_table("held_products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_held_products_company_id"), ["company_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_held_products_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_held_products_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "branch_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("original", sa.String(length=64), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
            name=op.f("fk_branch_phones_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_phones")),
    )
    with op.batch_alter_table("branch_phones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_branch_phones_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_branch_phones_e164"), ["e164"], unique=False)

    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activities_status"), ["status"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_activities_status_activity_statuses"),
            "activity_statuses",
            ["status"],
            ["name"],
            onupdate="CASCADE",
        )

    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("lead_source_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("lead_source_note", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.create_index(
            batch_op.f("ix_companies_lead_source_id"), ["lead_source_id"], unique=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_companies_external_id"), ["external_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_companies_lead_source_id_lead_sources"),
            "lead_sources",
            ["lead_source_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("lead_source_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("lead_source_note", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="prospect")
        )
        batch_op.create_index(
            batch_op.f("ix_persons_lead_source_id"), ["lead_source_id"], unique=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_persons_external_id"), ["external_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_persons_lead_source_id_lead_sources"),
            "lead_sources",
            ["lead_source_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_persons_lead_source_id_lead_sources"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_persons_external_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_persons_lead_source_id"))
        batch_op.drop_column("status")
        batch_op.drop_column("lead_source_note")
        batch_op.drop_column("lead_source_id")
        batch_op.drop_column("external_id")

    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_companies_lead_source_id_lead_sources"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_companies_external_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_companies_lead_source_id"))
        batch_op.drop_column("lead_source_note")
        batch_op.drop_column("lead_source_id")
        batch_op.drop_column("external_id")

    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_activities_status_activity_statuses"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_activities_status"))

    with op.batch_alter_table("branch_phones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branch_phones_e164"))
        batch_op.drop_index(batch_op.f("ix_branch_phones_branch_id"))

    op.drop_table("branch_phones")
    with op.batch_alter_table("held_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_held_products_product_id"))
        batch_op.drop_index(batch_op.f("ix_held_products_person_id"))
        batch_op.drop_index(batch_op.f("ix_held_products_company_id"))

    op.drop_table("held_products")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_renewal_on"))
        batch_op.drop_index(batch_op.f("ix_contracts_product_id"))
        batch_op.drop_index(batch_op.f("ix_contracts_person_id"))
        batch_op.drop_index(batch_op.f("ix_contracts_company_id"))

    op.drop_table("contracts")
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branches_manager_person_id"))

    op.drop_table("branches")
    op.drop_table("bank_accounts")
    with op.batch_alter_table("attribute_values", schema=None) as batch_op:
        batch_op.drop_index("ix_attribute_values_text")
        batch_op.drop_index(batch_op.f("ix_attribute_values_person_id"))
        batch_op.drop_index("ix_attribute_values_number")
        batch_op.drop_index("ix_attribute_values_date")
        batch_op.drop_index(batch_op.f("ix_attribute_values_company_id"))
        batch_op.drop_index("ix_attribute_values_bool")

    op.drop_table("attribute_values")
    op.drop_table("products")
    op.drop_table("lead_sources")
    op.drop_table("attribute_definitions")
    op.drop_table("activity_statuses")
