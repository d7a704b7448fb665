"""a dispute whose charge a ``--replace`` re-import removed records that import
(``withdrawn_by_import``), so that `db check` knows why the charge is gone.

Revision ID: 0021_dispute_withdrawn
Revises: 0020_read_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_dispute_withdrawn"
down_revision = "0020_read_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("charge_disputes", sa.Column("withdrawn_by_import", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("charge_disputes") as batch_op:
        batch_op.drop_column("withdrawn_by_import")
