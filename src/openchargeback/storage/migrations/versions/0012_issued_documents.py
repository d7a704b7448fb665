"""issued documents (issue 14): template hash, software version, file reconciliation

Each statement version records the software version that rendered it (the template hash
was recorded already), and its stored PDF and CSV their SHA-256, against which the files
in the output directory are checked and repaired. Existing documents are hashed here.

Revision ID: 0012_issued_documents
Revises: 0011_ledger_guards
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0012_issued_documents"
down_revision = "0011_ledger_guards"
branch_labels = None
depends_on = None

_CHUNK = 200  # documents hashed per query (PDFs of tens of kilobytes each)


def upgrade() -> None:
    op.add_column("statements", sa.Column("software_version", sa.String(length=40), nullable=True))
    op.add_column("statement_documents", sa.Column("pdf_sha256", sa.String(length=64), nullable=True))
    op.add_column("statement_documents", sa.Column("csv_sha256", sa.String(length=64), nullable=True))
    docs = sa.table(
        "statement_documents",
        sa.column("statement_id", sa.Integer),
        sa.column("pdf", sa.LargeBinary),
        sa.column("detail_csv", sa.LargeBinary),
        sa.column("pdf_sha256", sa.String),
        sa.column("csv_sha256", sa.String),
    )
    conn = op.get_bind()
    last = -1
    while True:
        rows = conn.execute(
            sa.select(docs.c.statement_id, docs.c.pdf, docs.c.detail_csv)
            .where(docs.c.statement_id > last)
            .order_by(docs.c.statement_id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        for r in rows:
            conn.execute(
                sa.update(docs)
                .where(docs.c.statement_id == r.statement_id)
                .values(
                    pdf_sha256=hashlib.sha256(bytes(r.pdf)).hexdigest(),
                    csv_sha256=hashlib.sha256(bytes(r.detail_csv)).hexdigest()
                    if r.detail_csv is not None
                    else None,
                )
            )
        last = rows[-1].statement_id
    with op.batch_alter_table("statement_documents") as batch:
        batch.alter_column("pdf_sha256", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of statements would be refused by the
    # foreign keys that point at it, and these columns carry no constraint.
    op.drop_column("statement_documents", "csv_sha256")
    op.drop_column("statement_documents", "pdf_sha256")
    op.drop_column("statements", "software_version")
