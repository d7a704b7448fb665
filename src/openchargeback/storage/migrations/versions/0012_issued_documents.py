"""issued documents (issue 14): template hash, software version, file reconciliation

Revision ID: 0012_issued_documents
Revises: 0011_ledger_guards
"""

revision = "0012_issued_documents"
down_revision = "0011_ledger_guards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
