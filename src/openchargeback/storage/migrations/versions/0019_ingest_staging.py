"""set-based ingest staging (issue 21)

Placeholder revision, filled by the work it names.

Revision ID: 0019_ingest_staging
Revises: 0018_review_disputes
"""

revision = "0019_ingest_staging"
down_revision = "0018_review_disputes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
