"""PostgreSQL: charges partitioned by billing period (LIST on period_id), one partition a
period, named ``charges_YYYY_MM`` (migration 0017). A period's replace, review, close,
statements and journal read its partition only; an old period's partition can be detached
and archived (docs/operations/postgresql.md). SQLite's charges table is one table.

A period's partition is made with the period's row. It is created apart and then attached:
ATTACH PARTITION takes a SHARE UPDATE EXCLUSIVE lock on charges, which reads and writes of
other periods do not wait for, where CREATE TABLE ... PARTITION OF takes an ACCESS EXCLUSIVE
lock, held until the transaction ends (for an import, its whole write). There is no default
partition: a charge of a period without one is refused, never filed where pruning and
archiving would not find it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection


def partition_name(period_name: str) -> str:
    """``2025-01`` -> ``charges_2025_01`` (a period's name is YYYY-MM, checked on input)."""
    year, month = period_name.split("-")
    return f"charges_{int(year):04d}_{int(month):02d}"


def attached(conn: Connection) -> dict[int, str]:
    """period_id -> partition of charges, read from the catalogue."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'charges'::regclass"
    ).all()
    out = {}
    for name, bound in rows:  # FOR VALUES IN (7)
        out[int(bound.split("(", 1)[1].rstrip(")"))] = name
    return out


def archived(conn: Connection) -> set[str]:
    """Names of the periods whose partition was detached (PostgreSQL; none on SQLite)."""
    if conn.dialect.name != "postgresql":
        return set()
    have = attached(conn)
    return {str(n) for i, n in conn.exec_driver_sql("SELECT id, name FROM periods") if i not in have}


def add(conn: Connection, period_id: int, period_name: str) -> None:
    """The period's empty partition (PostgreSQL; nothing on SQLite), in the caller's transaction."""
    if conn.dialect.name != "postgresql":
        return
    make_table(conn, partition_name(period_name), period_id)
    attach(conn, period_id, period_name)


def make_table(conn: Connection, table: str, period_id: int) -> None:
    """A table to be the period's partition: the charges' columns and a constraint that
    proves its rows fit, so that ATTACH does not scan it."""
    conn.exec_driver_sql(f'CREATE TABLE "{table}" (LIKE charges INCLUDING DEFAULTS)')
    conn.exec_driver_sql(
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_period" CHECK (period_id = {int(period_id)})'
    )


def adopt(conn: Connection, table: str, period_id: int, period_name: str) -> None:
    """The filled ``table`` (``make_table``) becomes the period's partition. ATTACH builds
    the charges indexes the table lacks: on a filled table one sorted build per index,
    several times faster than inserting each row into six indexes (issue 21)."""
    name = partition_name(period_name)
    conn.exec_driver_sql(f'ALTER TABLE "{table}" RENAME TO "{name}"')
    conn.exec_driver_sql(f'ALTER TABLE "{name}" RENAME CONSTRAINT "{table}_period" TO "{name}_period"')
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    attach(conn, period_id, period_name)


def attach(conn: Connection, period_id: int, period_name: str) -> None:
    table = partition_name(period_name)
    conn.exec_driver_sql(f'ALTER TABLE charges ATTACH PARTITION "{table}" FOR VALUES IN ({int(period_id)})')


def ensure(conn: Connection, periods: Iterable[tuple[int, str]]) -> None:
    """Each of these (period_id, name) has its partition (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return
    have = attached(conn)
    for period_id, name in periods:
        if period_id not in have:
            add(conn, period_id, name)
