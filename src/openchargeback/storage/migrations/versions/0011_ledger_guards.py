"""ledger guards (issue 13): import overlap/source guards, unique active file hash

Revision ID: 0011_ledger_guards
Revises: 0010_statement_notices
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_ledger_guards"
down_revision = "0010_statement_notices"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("status = 'complete'")


def upgrade() -> None:
    with op.batch_alter_table("imports") as batch:
        # --append and --source-ok: the operator's word that the guards were wrong
        batch.add_column(sa.Column("appended", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("source_ok", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("parties", sa.Text(), nullable=True))
    # one active import per file: two imports of the same bytes racing cannot both commit
    op.create_index(
        "ux_imports_active_sha256",
        "imports",
        ["sha256"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("ux_imports_active_sha256", table_name="imports")
    with op.batch_alter_table("imports") as batch:
        batch.drop_column("parties")
        batch.drop_column("source_ok")
        batch.drop_column("appended")
