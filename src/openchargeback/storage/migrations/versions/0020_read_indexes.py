"""indexes for the read paths under load (issues 15 and 18)

The charge browser, the API and the review queue page through charges in the file order
(period, source, import, id). SQLite's index on (period, source, import) carries the rowid
(the id) and so already answers that order; PostgreSQL's does not, and sorted a whole period
for every page (about 0.4 s at 1,000,000 charges). The file-order index gets the id, and
a period's charges filtered by project or by PI get an index in the same order, so that
their pages are index range scans too.

Revision ID: 0020_read_indexes
Revises: 0019_ingest_staging
"""

from alembic import op

revision = "0020_read_indexes"
down_revision = "0019_ingest_staging"
branch_labels = None
depends_on = None

FILE_ORDER = ["source_id", "import_id", "id"]


def upgrade() -> None:
    with op.batch_alter_table("charges") as batch_op:
        batch_op.drop_index("ix_charges_period_source_import")
        batch_op.create_index("ix_charges_period_source_import", ["period_id", *FILE_ORDER])
        batch_op.create_index("ix_charges_period_project", ["period_id", "project_id", *FILE_ORDER])
        batch_op.create_index("ix_charges_period_pi", ["period_id", "pi_email", *FILE_ORDER])


def downgrade() -> None:
    with op.batch_alter_table("charges") as batch_op:
        batch_op.drop_index("ix_charges_period_pi")
        batch_op.drop_index("ix_charges_period_project")
        batch_op.drop_index("ix_charges_period_source_import")
        batch_op.create_index("ix_charges_period_source_import", ["period_id", "source_id", "import_id"])
