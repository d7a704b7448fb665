"""statements: versions, documents, email messages

Revision ID: 0006_statements
Revises: 0005_registry
"""
import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = "0006_statements"
down_revision = "0005_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pi_email", sa.String(length=320), nullable=True),
        sa.Column("project_id", sa.String(length=200), nullable=True),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("list_total", openchargeback.storage.types.ExactDecimal(), nullable=False),
        sa.Column("discount_total", openchargeback.storage.types.ExactDecimal(), nullable=False),
        sa.Column("due_total", openchargeback.storage.types.ExactDecimal(), nullable=False),
        sa.Column("charge_count", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("template_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("generated_by", sa.String(length=200), nullable=False),
        sa.Column("generated_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", openchargeback.storage.types.UTCDateTime(), nullable=True),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.Column("superseded_at", openchargeback.storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.ForeignKeyConstraint(["superseded_by_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", "version", name="uq_statements_number_version"),
    )
    op.create_index("ix_statements_period_pi", "statements", ["period_id", "pi_email"], unique=False)
    op.create_table(
        "statement_documents",
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("detail_csv", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("statement_id"),
    )
    op.create_table(
        "statement_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("pi_email", sa.String(length=320), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("outbox_path", sa.Text(), nullable=True),
        sa.Column("resend_of_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", openchargeback.storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.ForeignKeyConstraint(["resend_of_id"], ["statement_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_statement_messages_period_id", "statement_messages", ["period_id"], unique=False)
    op.create_table(
        "statement_message_items",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["statement_messages.id"]),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("message_id", "statement_id"),
    )
    op.create_index("ix_statement_message_items_statement_id", "statement_message_items",
                    ["statement_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_statement_message_items_statement_id", table_name="statement_message_items")
    op.drop_table("statement_message_items")
    op.drop_index("ix_statement_messages_period_id", table_name="statement_messages")
    op.drop_table("statement_messages")
    op.drop_table("statement_documents")
    op.drop_index("ix_statements_period_pi", table_name="statements")
    op.drop_table("statements")
