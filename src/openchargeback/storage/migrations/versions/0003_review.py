"""review workflow: rules, attribution rules, charge actions, review columns

Revision ID: 0003
Revises: 0002_web
"""
import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = "0003"
down_revision = "0002_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "attribution_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("match_field", sa.String(length=200), nullable=False),
        sa.Column("match_value", sa.Text(), nullable=False),
        sa.Column("pi_email", sa.String(length=320), nullable=True),
        sa.Column("project_id", sa.String(length=200), nullable=True),
        sa.Column("fund_org", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "charge_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_charge_actions_charge", "charge_actions", ["charge_id"], unique=False)
    with op.batch_alter_table("charges") as batch_op:
        batch_op.add_column(sa.Column("attribution_rule_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("review", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("review_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", openchargeback.storage.types.UTCDateTime(), nullable=True))
    # the review queue: pending charges by amount, one partial index per sign (review_tables.py)
    for name, order, sign in (("ix_charges_review_queue_pos", "billed_cost DESC", ">= 0"),
                              ("ix_charges_review_queue_neg", "billed_cost", "< 0")):
        where = sa.text(f"review IS NULL AND flags IS NOT NULL AND billed_cost {sign}")
        op.create_index(name, "charges",
                        ["period_id", sa.text(order), "id", "source_id", "flags", "review"],
                        unique=False, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_charges_review_queue_neg", table_name="charges")
    op.drop_index("ix_charges_review_queue_pos", table_name="charges")
    with op.batch_alter_table("charges") as batch_op:
        for name in ("reviewed_at", "reviewed_by", "review_note", "review", "attribution_rule_id"):
            batch_op.drop_column(name)
    op.drop_index("ix_charge_actions_charge", table_name="charge_actions")
    op.drop_table("charge_actions")
    op.drop_table("attribution_rules")
    op.drop_table("review_rules")
