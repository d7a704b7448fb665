"""Charges: bulk insert (executemany on SQLite, COPY on PostgreSQL), the shared detail
and tag-set rows, and key-paginated listing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, insert, select

from openchargeback.storage.tables import (
    CHARGE_INSERT_COLUMNS,
    charge_details,
    charges,
    periods,
    sources,
    tag_sets,
)
from openchargeback.storage.types import sqlite_time

DETAIL_STORAGE_COLUMNS = tuple(c.name for c in charge_details.columns if c.name not in ("id", "key"))


def _key(values) -> str:
    text = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return hashlib.sha1(text.encode()).hexdigest()


class SharedRows:
    """Get-or-create ids for detail tuples and tag texts, cached for one ingest."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.details: dict[tuple, int] = {}
        self.tags: dict[str, int] = {}

    def detail_ids(self, details: list[tuple]) -> list[int]:
        missing = [d for d in details if d not in self.details]
        if missing:
            keys = {_key(d): d for d in missing}
            for row in self.conn.execute(select(charge_details.c.id, charge_details.c.key)
                                         .where(charge_details.c.key.in_(list(keys)))):
                self.details[keys.pop(row.key)] = row.id
            if keys:
                self.conn.execute(insert(charge_details), [
                    {"key": key, **dict(zip(DETAIL_STORAGE_COLUMNS, d, strict=True))}
                    for key, d in keys.items()])
                for row in self.conn.execute(select(charge_details.c.id, charge_details.c.key)
                                             .where(charge_details.c.key.in_(list(keys)))):
                    self.details[keys[row.key]] = row.id
        return [self.details[d] for d in details]

    def tag_ids(self, texts: list[str | None]) -> list[int | None]:
        missing = [t for t in texts if t is not None and t not in self.tags]
        if missing:
            keys = {hashlib.sha1(t.encode()).hexdigest(): t for t in set(missing)}
            for row in self.conn.execute(select(tag_sets.c.id, tag_sets.c.key)
                                         .where(tag_sets.c.key.in_(list(keys)))):
                self.tags[keys.pop(row.key)] = row.id
            if keys:
                self.conn.execute(insert(tag_sets), [{"key": k, "tags": t} for k, t in keys.items()])
                for row in self.conn.execute(select(tag_sets.c.id, tag_sets.c.key)
                                             .where(tag_sets.c.key.in_(list(keys)))):
                    self.tags[keys[row.key]] = row.id
        return [None if t is None else self.tags[t] for t in texts]


def insert_rows(conn: Connection, columns: dict[str, list]) -> None:
    """Insert charges given column-wise, in CHARGE_INSERT_COLUMNS names.

    Money is picounits (int), times aware datetimes; for SQLite the caller passes
    times already as text via :func:`time_values`.
    """
    names = CHARGE_INSERT_COLUMNS
    data = [columns[n] for n in names]
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(
                f"COPY charges ({', '.join(names)}) FROM STDIN") as copy:
            for row in zip(*data, strict=True):
                copy.write_row(row)
        return
    sql = f"INSERT INTO charges ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    conn.exec_driver_sql(sql, list(zip(*data, strict=True)))


def refresh_statistics(conn: Connection) -> None:
    """PostgreSQL plans from table statistics; after a large import they would say the
    table is empty until autovacuum runs (if it runs), and queue pages then take seconds."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE charges")


def time_values(conn: Connection, values: list[datetime]) -> list:
    """Distinct times in the form the raw insert path wants for this backend."""
    if conn.dialect.name == "postgresql":
        return values
    return [sqlite_time(v) for v in values]


@dataclass(frozen=True)
class ChargeFilter:
    period_id: int | None = None
    source_id: int | None = None
    import_id: int | None = None
    pi_email: str | None = None
    project_id: str | None = None
    fund_org: str | None = None
    flagged: bool | None = None


def _where(f: ChargeFilter):
    conds = []
    for col, value in ((charges.c.period_id, f.period_id), (charges.c.source_id, f.source_id),
                       (charges.c.import_id, f.import_id), (charges.c.pi_email, f.pi_email),
                       (charges.c.project_id, f.project_id), (charges.c.fund_org, f.fund_org)):
        if value is not None:
            conds.append(col == value)
    if f.flagged is True:
        conds.append(charges.c.flags.is_not(None))
    elif f.flagged is False:
        conds.append(charges.c.flags.is_(None))
    return and_(*conds) if conds else None


def listing(conn: Connection, f: ChargeFilter, *, after_id: int | None = None, limit: int = 100):
    """Charges by id, ``limit`` at a time after ``after_id`` (key pagination)."""
    detail_cols = [c for c in charge_details.c if c.name not in ("id", "key")]
    q = (select(charges, *detail_cols, tag_sets.c.tags, periods.c.name.label("period"),
                sources.c.name.label("source"))
         .join(charge_details, charge_details.c.id == charges.c.detail_id)
         .join(periods, periods.c.id == charges.c.period_id)
         .join(sources, sources.c.id == charges.c.source_id)
         .outerjoin(tag_sets, tag_sets.c.id == charges.c.tag_set_id)
         .order_by(charges.c.id).limit(limit))
    where = _where(f)
    if where is not None:
        q = q.where(where)
    if after_id is not None:
        q = q.where(charges.c.id > after_id)
    return conn.execute(q).all()


def count(conn: Connection, f: ChargeFilter) -> int:
    q = select(func.count()).select_from(charges)
    where = _where(f)
    if where is not None:
        q = q.where(where)
    return conn.execute(q).scalar_one()


__all__ = ["ChargeFilter", "SharedRows", "count", "insert_rows", "listing", "time_values"]
