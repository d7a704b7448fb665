"""registry: PIs, projects, funds/orgs, fund splits, adjustments, budget alerts

Revision ID: 0005_registry
Revises: 0004_convert
"""
import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = "0005_registry"
down_revision = "0004_convert"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pis",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("department", sa.String(length=300), nullable=True),
        sa.Column("billing_contacts", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email"),
    )
    op.create_table(
        "funds",
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("budget", openchargeback.storage.types.Money(), nullable=True),
        sa.Column("budget_per", sa.String(length=16), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "projects",
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("pi_email", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("default_fund", sa.String(length=200), nullable=True),
        sa.Column("budget", openchargeback.storage.types.Money(), nullable=True),
        sa.Column("budget_per", sa.String(length=16), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["default_fund"], ["funds.code"]),
        sa.ForeignKeyConstraint(["pi_email"], ["pis.email"]),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_index(op.f("ix_projects_pi_email"), "projects", ["pi_email"], unique=False)
    op.create_table(
        "fund_splits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("first_period", sa.String(length=7), nullable=False),
        sa.Column("last_period", sa.String(length=7), nullable=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_value", sa.String(length=300), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.project_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fund_splits_project", "fund_splits", ["project_id"], unique=False)
    op.create_table(
        "fund_split_shares",
        sa.Column("split_id", sa.Integer(), nullable=False),
        sa.Column("fund_code", sa.String(length=200), nullable=False),
        sa.Column("percent", openchargeback.storage.types.ExactDecimal(), nullable=False),
        sa.ForeignKeyConstraint(["fund_code"], ["funds.code"]),
        sa.ForeignKeyConstraint(["split_id"], ["fund_splits.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("split_id", "fund_code"),
    )
    op.create_table(
        "adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("pi_email", sa.String(length=320), nullable=True),
        sa.Column("project_id", sa.String(length=200), nullable=True),
        sa.Column("fund_org", sa.String(length=200), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("amount", openchargeback.storage.types.Money(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_adjustments_period_id"), "adjustments", ["period_id"], unique=False)
    op.create_table(
        "budget_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder_kind", sa.String(length=16), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("span", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("budget", openchargeback.storage.types.Money(), nullable=False),
        sa.Column("spend", openchargeback.storage.types.Money(), nullable=False),
        sa.Column("raised_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("notified_at", openchargeback.storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("holder_kind", "holder", "span", "threshold", name="uq_budget_alerts_once"),
    )


def downgrade() -> None:
    op.drop_table("budget_alerts")
    op.drop_index(op.f("ix_adjustments_period_id"), table_name="adjustments")
    op.drop_table("adjustments")
    op.drop_table("fund_split_shares")
    op.drop_index("ix_fund_splits_project", table_name="fund_splits")
    op.drop_table("fund_splits")
    op.drop_index(op.f("ix_projects_pi_email"), table_name="projects")
    op.drop_table("projects")
    op.drop_table("funds")
    op.drop_table("pis")
