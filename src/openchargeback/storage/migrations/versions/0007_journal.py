"""journal: exports and their files

Revision ID: 0007_journal
Revises: 0006_statements
"""
import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = "0007_journal"
down_revision = "0006_statements"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("draft", sa.Boolean(), nullable=False),
        sa.Column("delta", sa.Boolean(), nullable=False),
        sa.Column("basis_id", sa.Integer(), nullable=True),
        sa.Column("period_status", sa.String(length=16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.Column("postings", sa.Text(), nullable=True),
        sa.Column("template_hash", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["basis_id"], ["journal_exports.id"]),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("period_id", "sequence", name="uq_journal_exports_period_sequence"),
    )
    op.create_table(
        "journal_documents",
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["export_id"], ["journal_exports.id"]),
        sa.PrimaryKeyConstraint("export_id"),
    )


def downgrade() -> None:
    op.drop_table("journal_documents")
    op.drop_table("journal_exports")
