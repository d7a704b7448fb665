"""charges partitioned by billing period on PostgreSQL (issue 15)

PostgreSQL: charges becomes a table partitioned by LIST (period_id), one partition a period
(storage/partitions.py). The rows are copied into the new table in this migration's
transaction, which then takes the old one's name, indexes, foreign keys and id sequence (a
failure leaves the old table as it was). A partitioned table's primary key must hold the
partition key: it is (id, period_id); ids still come from the one sequence, and `db check`
reports an id held twice.

Both databases: charge_disputes.charge_id loses its foreign key (a key to charges.id alone
cannot exist on the partitioned table); `db check` reports a dispute whose charge is gone.
SQLite's charges table stays one table.

Revision ID: 0017_charge_partitions
Revises: 0016_pi_portal
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

from openchargeback.storage import partitions

revision = "0017_charge_partitions"
down_revision = "0016_pi_portal"
branch_labels = None
depends_on = None

_OLD = "charges_unpartitioned"


def upgrade() -> None:
    bind = op.get_bind()
    _drop_dispute_fk(bind)
    if bind.dialect.name != "postgresql":
        return
    indexes, fks = _swap_out(bind)
    bind.exec_driver_sql(
        f"CREATE TABLE charges (LIKE {_OLD} INCLUDING DEFAULTS) PARTITION BY LIST (period_id)"
    )
    bind.exec_driver_sql("ALTER TABLE charges ADD CONSTRAINT charges_pkey PRIMARY KEY (id, period_id)")
    orphans = bind.exec_driver_sql(
        f"SELECT count(*) FROM {_OLD} c WHERE NOT EXISTS (SELECT 1 FROM periods p WHERE p.id = c.period_id)"
    ).scalar_one()
    if orphans:  # a partition is a period's: such rows would have nowhere to go
        raise RuntimeError(f"{orphans} charge(s) of a period that does not exist (`openchargeback db check`)")
    partitions.ensure(bind, [(i, n) for i, n in bind.exec_driver_sql("SELECT id, name FROM periods")])
    _swap_in(bind, indexes, fks)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        indexes, fks = _swap_out(bind)
        bind.exec_driver_sql(f"CREATE TABLE charges (LIKE {_OLD} INCLUDING DEFAULTS)")
        bind.exec_driver_sql("ALTER TABLE charges ADD CONSTRAINT charges_pkey PRIMARY KEY (id)")
        _swap_in(bind, indexes, fks)
        with op.batch_alter_table("charge_disputes") as batch_op:
            batch_op.create_foreign_key("charge_disputes_charge_id_fkey", "charges", ["charge_id"], ["id"])
        return
    with op.batch_alter_table("charge_disputes", copy_from=_disputes(with_fk=True), recreate="always"):
        pass


def _swap_out(bind: Connection) -> tuple[list[str], list[tuple[str, str]]]:
    """Rename charges away, keeping its index and foreign key definitions; the id sequence
    no longer goes with it."""
    indexes = list(
        bind.exec_driver_sql(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'charges'::regclass "
            "AND NOT i.indisprimary ORDER BY i.indexrelid"
        ).scalars()
    )
    names = bind.exec_driver_sql(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'charges'::regclass AND NOT i.indisprimary"
    ).scalars()
    for name in list(names):
        bind.exec_driver_sql(f'DROP INDEX "{name}"')
    fks = [
        (str(n), str(d))
        for n, d in bind.exec_driver_sql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'charges'::regclass AND contype = 'f'"
        ).all()
    ]
    for name, _ in fks:
        bind.exec_driver_sql(f'ALTER TABLE charges DROP CONSTRAINT "{name}"')
    bind.exec_driver_sql("ALTER SEQUENCE charges_id_seq OWNED BY NONE")
    bind.exec_driver_sql(f"ALTER TABLE charges RENAME TO {_OLD}")
    bind.exec_driver_sql(f"ALTER TABLE {_OLD} RENAME CONSTRAINT charges_pkey TO {_OLD}_pkey")
    return indexes, fks


def _swap_in(bind: Connection, indexes: list[str], fks: list[tuple[str, str]]) -> None:
    """The rows into the new charges, then its indexes (built once, after the rows) and
    foreign keys; the old table goes and the sequence belongs to the new one."""
    bind.exec_driver_sql(f"INSERT INTO charges SELECT * FROM {_OLD}")
    bind.exec_driver_sql(f"DROP TABLE {_OLD}")
    for sql in indexes:
        bind.exec_driver_sql(sql)
    for name, definition in fks:
        bind.exec_driver_sql(f'ALTER TABLE charges ADD CONSTRAINT "{name}" {definition}')
    bind.exec_driver_sql("ALTER SEQUENCE charges_id_seq OWNED BY charges.id")
    bind.exec_driver_sql("ANALYZE charges")


def _drop_dispute_fk(bind: Connection) -> None:
    if bind.dialect.name == "postgresql":
        for name in bind.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'charge_disputes'::regclass AND confrelid = 'charges'::regclass"
        ).scalars():
            op.drop_constraint(name, "charge_disputes", type_="foreignkey")
        return
    # SQLite drops a constraint by rebuilding the (small) table
    with op.batch_alter_table("charge_disputes", copy_from=_disputes(with_fk=False), recreate="always"):
        pass


def _disputes(*, with_fk: bool) -> sa.Table:
    """charge_disputes as 0016 made it (with its foreign key or without)."""
    from openchargeback.storage.types import UTCDateTime

    extra: list[sa.Constraint] = [sa.ForeignKeyConstraint(["charge_id"], ["charges.id"])] if with_fk else []
    return sa.Table(
        "charge_disputes",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column("pi_email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_by", sa.String(length=200), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("charge_id", "open", name="uq_charge_disputes_one_open"),
        sa.Index("ix_charge_disputes_pi_email", "pi_email"),
        *extra,
    )
