"""journal accounting (issue 14): debit accounts, postings, control totals, funded subsidies

Debit accounts and funded subsidies are settings (``journal.sources``); the database
records, per export, whether it was a deliberate second posting of the period
(``--again``), so that a duplicate posting is never silent.

Revision ID: 0013_journal_accounting
Revises: 0012_issued_documents
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_journal_accounting"
down_revision = "0012_issued_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("journal_exports") as batch:
        # --again: the period's journal had been exported for posting before
        batch.add_column(sa.Column("again", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("journal_exports") as batch:
        batch.drop_column("again")
