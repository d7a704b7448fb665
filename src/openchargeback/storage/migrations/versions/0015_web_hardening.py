"""web hardening (issue 17): login throttle

Revision ID: 0015_web_hardening
Revises: 0014_durable_jobs
"""

revision = "0015_web_hardening"
down_revision = "0014_durable_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
