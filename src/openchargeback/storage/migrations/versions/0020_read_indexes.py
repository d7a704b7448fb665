"""indexes for the read paths under load (issues 15 and 18)

Placeholder revision, filled by the work it names.

Revision ID: 0020_read_indexes
Revises: 0019_ingest_staging
"""

revision = "0020_read_indexes"
down_revision = "0019_ingest_staging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
