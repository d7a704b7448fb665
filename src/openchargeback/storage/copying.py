"""Copy every table of one database into another (SQLite <-> PostgreSQL).

Tables go in foreign-key order; a column that refers to its own table
(``statements.superseded_by_id``, ``imports.replaced_by_id``...) is written empty and
filled in a second pass, so no constraint has to be disabled and no superuser is
needed. Values go through the tables' types (exact money, aware times, bytes), which
is what makes a SQLite value and a PostgreSQL value the same. PostgreSQL sequences
are set past the largest id copied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from openchargeback.storage import partitions
from openchargeback.storage.schema import metadata
from openchargeback.storage.tables import periods

_CHUNK = 5_000


def tables() -> list[Table]:
    return list(metadata.sorted_tables)


def _self_refs(table: Table) -> list[Column[Any]]:
    return [fk.parent for fk in table.foreign_keys if fk.column.table is table]


def _rows(source: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    key = list(table.primary_key.columns) or list(table.columns)
    result = source.execution_options(yield_per=_CHUNK).execute(select(table).order_by(*key))
    for part in result.partitions():
        yield [dict(r._mapping) for r in part]


def clear_sources(target: Connection) -> None:
    """The target's sources (written from the configuration when it was created): the
    copy brings the source database's own."""
    from openchargeback.storage.tables import sources

    target.execute(delete(sources))


def copy_table(source: Connection, target: Connection, table: Table) -> int:
    refs = _self_refs(table)
    later: list[dict[str, Any]] = []
    pk = list(table.primary_key.columns)
    n = 0
    for rows in _rows(source, table):
        if refs:
            for r in rows:
                if any(r[c.name] is not None for c in refs):
                    later.append(
                        {**{f"k_{c.name}": r[c.name] for c in pk}, **{c.name: r[c.name] for c in refs}}
                    )
                    for c in refs:
                        r[c.name] = None
        _insert(target, table, rows)
        n += len(rows)
    if later:
        stmt = (
            update(table)
            .where(*[c == bindparam(f"k_{c.name}") for c in pk])
            .values({c.name: bindparam(c.name) for c in refs})
        )
        for i in range(0, len(later), _CHUNK):
            target.execute(stmt, later[i : i + _CHUNK])
    return n


def _insert(target: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows into the target: COPY on PostgreSQL (the values through the columns' types,
    as an INSERT would bind them), a prepared INSERT on SQLite."""
    if target.dialect.name != "postgresql":
        target.execute(insert(table), rows)
        return
    columns = list(table.columns)
    procs = [c.type.bind_processor(target.dialect) for c in columns]
    names = ", ".join(f'"{c.name}"' for c in columns)
    raw: Any = target.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for r in rows:
            copy.write_row(
                [
                    None if (v := r[c.name]) is None else (p(v) if p is not None else v)
                    for c, p in zip(columns, procs, strict=True)
                ]
            )


def set_sequences(target: Connection) -> None:
    """PostgreSQL: each serial id's sequence continues after the largest id copied."""
    if target.dialect.name != "postgresql":
        return
    for table in tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer):
            continue
        top = target.execute(select(func.max(pk[0]))).scalar_one()
        target.execute(
            text("SELECT setval(pg_get_serial_sequence(:t, :c), :v, :called)"),
            {"t": table.name, "c": pk[0].name, "v": top or 1, "called": top is not None},
        )


def copy_all(
    source: Connection, target: Connection, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    clear_sources(target)
    counts = {}
    for table in tables():
        if table.name == "charges":  # PostgreSQL: each period's partition first
            named = source.execute(select(periods.c.id, periods.c.name))
            partitions.ensure(target, [(r.id, r.name) for r in named])
        counts[table.name] = copy_table(source, target, table)
        if progress is not None:
            progress(table.name, counts[table.name])
    set_sequences(target)
    return counts
