"""PI portal (issue 18): pi/delegate links, disputes, API tokens

Revision ID: 0016_pi_portal
Revises: 0015_web_hardening
"""

revision = "0016_pi_portal"
down_revision = "0015_web_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
