"""charges partitioned by billing period on PostgreSQL (issue 15)

Placeholder revision, filled by the work it names.

Revision ID: 0017_charge_partitions
Revises: 0016_pi_portal
"""

revision = "0017_charge_partitions"
down_revision = "0016_pi_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
