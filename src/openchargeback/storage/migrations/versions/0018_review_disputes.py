"""disputes in the review queue and on statement lines (issue 18)

Placeholder revision, filled by the work it names.

Revision ID: 0018_review_disputes
Revises: 0017_charge_partitions
"""

revision = "0018_review_disputes"
down_revision = "0017_charge_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
