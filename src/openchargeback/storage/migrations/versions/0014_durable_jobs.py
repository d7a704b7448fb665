"""durable jobs (issue 15): leases, heartbeats, workers

Revision ID: 0014_durable_jobs
Revises: 0013_journal_accounting
"""

revision = "0014_durable_jobs"
down_revision = "0013_journal_accounting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
