"""durable jobs (issue 15): leases, heartbeats, workers

Every background task is a row of ``jobs`` that any process can claim and follow:
``rows_read`` becomes the general ``progress`` (with ``progress_total``), a claim counts
``attempts`` and holds a ``lease_until`` that its worker's heartbeat extends, and
``job_workers`` records each worker process and its heartbeat.

Revision ID: 0014_durable_jobs
Revises: 0013_journal_accounting
"""

import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = "0014_durable_jobs"
down_revision = "0013_journal_accounting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column(
            "rows_read", new_column_name="progress", existing_type=sa.Integer(), existing_nullable=False
        )
        batch.add_column(sa.Column("progress_total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("period", sa.String(length=7), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_until", openchargeback.storage.types.UTCDateTime(), nullable=True))
        batch.create_index("ix_jobs_status_id", ["status", "id"], unique=False)
    # A job that an earlier version left queued or running was in one process's memory
    # and died with it: interrupted, for a person to start again.
    op.execute(
        "UPDATE jobs SET status = 'interrupted', error = 'the server stopped before it finished' "
        "WHERE status IN ('queued', 'running')"
    )
    op.create_table(
        "job_workers",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("started_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", openchargeback.storage.types.UTCDateTime(), nullable=False),
        sa.Column("stopped_at", openchargeback.storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("job_workers")
    op.execute("UPDATE jobs SET status = 'failed' WHERE status = 'interrupted'")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_status_id")
        batch.drop_column("lease_until")
        batch.drop_column("attempts")
        batch.drop_column("period")
        batch.drop_column("progress_total")
        batch.alter_column(
            "progress", new_column_name="rows_read", existing_type=sa.Integer(), existing_nullable=False
        )
