"""Sources of billing data (aws, hpc, ...)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from openchargeback.storage.tables import sources
from openchargeback.storage.types import AnyRow

FIELDS = ("display_name", "file_pattern", "cost_basis", "gl_fund_org", "gl_account")


def get(conn: Connection, name: str) -> AnyRow | None:
    return conn.execute(select(sources).where(sources.c.name == name.strip().lower())).first()


def get_by_id(conn: Connection, source_id: int) -> AnyRow | None:
    return conn.execute(select(sources).where(sources.c.id == source_id)).first()


def edit(conn: Connection, source_id: int, values: Mapping[str, Any]) -> None:
    """Edit a database-declared source (only the editable columns)."""
    editable = {k: v for k, v in values.items() if k in FIELDS}
    if editable:
        conn.execute(update(sources).where(sources.c.id == source_id).values(**editable))


def list_all(conn: Connection) -> Sequence[AnyRow]:
    return conn.execute(select(sources).order_by(sources.c.name)).all()


def add(
    conn: Connection, name: str, values: Mapping[str, Any], *, from_config: bool, now: datetime
) -> AnyRow:
    conn.execute(
        insert(sources).values(
            name=name.strip().lower(),
            from_config=from_config,
            created_at=now,
            tag_mapping=_mapping(values.get("tag_mapping")),
            **{k: values.get(k) for k in FIELDS},
        )
    )
    row = get(conn, name)
    if row is None:
        raise LookupError(f"source {name!r}: the INSERT left no row")
    return row


SOURCES_LOCK = 0x0C8_0003  # PostgreSQL advisory lock: adding the configured sources


def sync_from_config(conn: Connection, configured: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """Config is authoritative for the sources it declares."""
    if conn.dialect.name == "postgresql":  # two first starts at once: one adds, the other sees it
        conn.execute(select(func.pg_advisory_xact_lock(SOURCES_LOCK)))
    for values in configured:
        row = get(conn, values["name"])
        if row is None:
            add(conn, values["name"], values, from_config=True, now=now)
            continue
        wanted = {k: values.get(k) for k in FIELDS}
        wanted["tag_mapping"] = _mapping(values.get("tag_mapping"))
        wanted["from_config"] = True
        if any(getattr(row, k) != v for k, v in wanted.items()):
            conn.execute(update(sources).where(sources.c.id == row.id).values(**wanted))


def _mapping(mapping: Mapping[str, Any] | None) -> str | None:
    return json.dumps(mapping, sort_keys=True) if mapping else None
