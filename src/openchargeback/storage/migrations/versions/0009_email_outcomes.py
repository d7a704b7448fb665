"""statement email: per-recipient outcomes, in-doubt messages, claims and the send lock

Revision ID: 0009_email_outcomes
Revises: 0008_attribution_text
"""
import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = "0009_email_outcomes"
down_revision = "0008_attribution_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("statement_messages", sa.Column("outcomes", sa.Text(), nullable=True))
    op.add_column("statement_messages", sa.Column("batch", sa.String(length=64), nullable=True))
    op.add_column("statement_messages", sa.Column("decision", sa.Text(), nullable=True))
    op.create_table(
        "statement_claims",
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["statement_messages.id"]),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("statement_id"),
    )
    op.create_index("ix_statement_claims_message_id", "statement_claims", ["message_id"], unique=False)
    op.create_table(
        "statement_send_locks",
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.PrimaryKeyConstraint("period_id"),
    )
    # A message left "queued" by an earlier version had started sending or not: nobody
    # knows. It becomes in doubt, and its unsent statement versions stay claimed by it so
    # that `generate --send` does not send them again without an operator's decision.
    op.execute("UPDATE statement_messages SET status = 'in_doubt' WHERE status = 'queued'")
    op.execute(
        "INSERT INTO statement_claims (statement_id, message_id, claimed_at) "
        "SELECT i.statement_id, MAX(m.id), MAX(m.created_at) FROM statement_message_items i "
        "JOIN statement_messages m ON m.id = i.message_id "
        "JOIN statements s ON s.id = i.statement_id "
        "WHERE m.status = 'in_doubt' AND s.sent_at IS NULL GROUP BY i.statement_id"
    )


def downgrade() -> None:
    op.drop_table("statement_send_locks")
    op.drop_index("ix_statement_claims_message_id", table_name="statement_claims")
    op.drop_table("statement_claims")
    op.execute("UPDATE statement_messages SET status = 'queued' WHERE status IN ('in_doubt', 'sending')")
    op.execute("UPDATE statement_messages SET status = 'sent' WHERE status = 'partial'")
    with op.batch_alter_table("statement_messages") as batch:
        batch.drop_column("decision")
        batch.drop_column("batch")
        batch.drop_column("outcomes")
