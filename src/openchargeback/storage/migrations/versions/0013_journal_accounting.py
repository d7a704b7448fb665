"""journal accounting (issue 14): debit accounts, postings, control totals, funded subsidies

Revision ID: 0013_journal_accounting
Revises: 0012_issued_documents
"""

revision = "0013_journal_accounting"
down_revision = "0012_issued_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
