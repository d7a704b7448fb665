"""Background jobs (web imports) and their progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openchargeback.storage.auth_tables import jobs
from openchargeback.storage.types import AnyRow, inserted_id


def create(conn: Connection, values: dict[str, Any]) -> int:
    return inserted_id(conn.execute(insert(jobs).values(**values)))


def get(conn: Connection, job_id: int) -> AnyRow | None:
    return conn.execute(select(jobs).where(jobs.c.id == job_id)).first()


def set_values(conn: Connection, job_id: int, **values: Any) -> None:
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def recent(conn: Connection, limit: int = 20) -> Sequence[AnyRow]:
    return conn.execute(select(jobs).order_by(jobs.c.id.desc()).limit(limit)).all()
