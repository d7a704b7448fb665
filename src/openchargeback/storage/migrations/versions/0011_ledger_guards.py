"""ledger guards (issue 13): import overlap/source guards, unique active file hash

Revision ID: 0011_ledger_guards
Revises: 0010_statement_notices
"""

revision = "0011_ledger_guards"
down_revision = "0010_statement_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
