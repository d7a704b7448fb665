"""charges: attribution columns unbounded on PostgreSQL (tag values may be long)

Revision ID: 0008_attribution_text
Revises: 0007_journal
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_attribution_text"
down_revision = "0007_journal"
branch_labels = None
depends_on = None

COLUMNS = {"pi_email": 320, "project_id": 200, "fund_org": 200, "cost_center": 200,
           "account_code": 200, "reference_1": 300, "reference_2": 300}


def upgrade() -> None:
    # SQLite never enforces VARCHAR lengths; only PostgreSQL needs the change (no rewrite).
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, length in COLUMNS.items():
        op.alter_column("charges", name, type_=sa.Text(), existing_type=sa.String(length))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, length in COLUMNS.items():
        op.alter_column("charges", name, type_=sa.String(length), existing_type=sa.Text())
