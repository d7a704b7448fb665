"""convert: allowance ledger (runs per rate table, converter and period; consumption)

Revision ID: 0004_convert
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = "0004_convert"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allowance_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_table", sa.String(length=200), nullable=False),
        sa.Column("converter", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("fiscal_year", sa.String(length=16), nullable=False),
        sa.Column("input_sha256", sa.String(length=64), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=True),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["superseded_by_id"], ["allowance_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rate_table", "converter", "period", "is_current",
                            name="uq_allowance_runs_current"),
    )
    op.create_index("ix_allowance_runs_table_year", "allowance_runs", ["rate_table", "fiscal_year"],
                    unique=False)
    op.create_table(
        "allowance_consumption",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("subsidy", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("quantity", openchargeback.storage.types.ExactDecimal(), nullable=False),
        sa.Column("amount", openchargeback.storage.types.Money(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["allowance_runs.id"]),
        sa.PrimaryKeyConstraint("run_id", "subsidy", "project_id"),
    )


def downgrade() -> None:
    op.drop_table("allowance_consumption")
    op.drop_index("ix_allowance_runs_table_year", table_name="allowance_runs")
    op.drop_table("allowance_runs")
