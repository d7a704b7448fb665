"""disputes in the review queue and on statement lines (issue 18): a dispute records the
statement line it was raised on (``statement_id`` and the line's label; every charge
behind the line gets its own row, the group decided at once) and the remedy its decision
applied (``remedy``).

Revision ID: 0018_review_disputes
Revises: 0017_charge_partitions
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_review_disputes"
down_revision = "0017_charge_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMNs (nullable): SQLite needs no table copy, PostgreSQL no rewrite
    op.add_column("charge_disputes", sa.Column("statement_id", sa.Integer(), nullable=True))
    op.add_column("charge_disputes", sa.Column("line", sa.String(length=300), nullable=True))
    op.add_column("charge_disputes", sa.Column("remedy", sa.Text(), nullable=True))
    op.create_index("ix_charge_disputes_statement_id", "charge_disputes", ["statement_id"])


def downgrade() -> None:
    op.drop_index("ix_charge_disputes_statement_id", table_name="charge_disputes")
    with op.batch_alter_table("charge_disputes") as batch_op:
        batch_op.drop_column("remedy")
        batch_op.drop_column("line")
        batch_op.drop_column("statement_id")
