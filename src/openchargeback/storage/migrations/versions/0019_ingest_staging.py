"""set-based ingest staging (issue 21): charges.import_id without its foreign key

PostgreSQL checks a foreign key row by row (a trigger per inserted row): on charges.import_id
that took about 6 s of a 300,000-row import, more than the rest of the publish. The ingest
writes import_id from the import row it creates in the same transaction, as it writes
period_id, source_id, detail_id and tag_set_id (which have no foreign key either), and
`db check` verifies that no charge lacks its import.

SQLite cannot drop a constraint with ALTER TABLE; the table's stored definition is edited
instead, the procedure SQLite documents for removing a FOREIGN KEY constraint (no copy of
the rows: instant on a ledger of millions of charges).

Revision ID: 0019_ingest_staging
Revises: 0018_review_disputes
"""

import re

from alembic import op
from sqlalchemy import Connection

revision = "0019_ingest_staging"
down_revision = "0018_review_disputes"
branch_labels = None
depends_on = None

_FK_SQL = "FOREIGN KEY(import_id) REFERENCES imports (id)"
_FK_RE = re.compile(r",\s*FOREIGN KEY\s*\(\s*import_id\s*\)\s*REFERENCES\s+\"?imports\"?\s*\(\s*id\s*\)")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in bind.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'charges'::regclass AND confrelid = 'imports'::regclass"
        ).scalars():
            op.drop_constraint(name, "charges", type_="foreignkey")
        return
    sql = _table_sql(bind)
    _set_table_sql(bind, _FK_RE.sub("", sql))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.create_foreign_key("charges_import_id_fkey", "charges", "imports", ["import_id"], ["id"])
        return
    sql = _table_sql(bind)
    if not _FK_RE.search(sql):
        head, _, tail = sql.rpartition(")")
        _set_table_sql(bind, f"{head.rstrip()}, \n\t{_FK_SQL}\n){tail}")


def _table_sql(bind: Connection) -> str:
    return str(
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'charges'"
        ).scalar_one()
    )


def _set_table_sql(bind: Connection, sql: str) -> None:
    """https://www.sqlite.org/lang_altertable.html#otheralter: the stored CREATE TABLE
    rewritten, the schema version bumped so that every connection reads it again."""
    if sql == _table_sql(bind):
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'charges'", (sql,))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
