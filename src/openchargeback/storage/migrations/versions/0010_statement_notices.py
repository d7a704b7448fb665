"""statement email: notices of withdrawn or superseded statements (a message kind)

Revision ID: 0010_statement_notices
Revises: 0009_email_outcomes
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_statement_notices"
down_revision = "0009_email_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("statement_messages", sa.Column("kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.execute(
        "DELETE FROM statement_message_items WHERE message_id IN "
        "(SELECT id FROM statement_messages WHERE kind = 'notice')"
    )
    op.execute(
        "DELETE FROM statement_claims WHERE message_id IN "
        "(SELECT id FROM statement_messages WHERE kind = 'notice')"
    )
    op.execute(
        "UPDATE statement_messages SET resend_of_id = NULL WHERE resend_of_id IN "
        "(SELECT id FROM statement_messages WHERE kind = 'notice')"
    )
    op.execute("DELETE FROM statement_messages WHERE kind = 'notice'")
    with op.batch_alter_table("statement_messages") as batch:
        batch.drop_column("kind")
