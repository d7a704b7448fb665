"""Sources of billing data (aws, hpc, ...)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from openchargeback.storage.tables import sources

FIELDS = ("display_name", "file_pattern", "cost_basis", "gl_fund_org", "gl_account")


def get(conn: Connection, name: str):
    return conn.execute(select(sources).where(sources.c.name == name.strip().lower())).first()


def get_by_id(conn: Connection, source_id: int):
    return conn.execute(select(sources).where(sources.c.id == source_id)).first()


def edit(conn: Connection, source_id: int, values: dict) -> None:
    """Edit a database-declared source (only the editable columns)."""
    values = {k: v for k, v in values.items() if k in FIELDS}
    if values:
        conn.execute(update(sources).where(sources.c.id == source_id).values(**values))


def list_all(conn: Connection):
    return conn.execute(select(sources).order_by(sources.c.name)).all()


def add(conn: Connection, name: str, values: dict, *, from_config: bool, now: datetime):
    conn.execute(
        insert(sources).values(
            name=name.strip().lower(),
            from_config=from_config,
            created_at=now,
            tag_mapping=_mapping(values.get("tag_mapping")),
            **{k: values.get(k) for k in FIELDS},
        )
    )
    return get(conn, name)


def sync_from_config(conn: Connection, configured: list[dict], now: datetime) -> None:
    """Config is authoritative for the sources it declares."""
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


def _mapping(mapping: dict | None) -> str | None:
    return json.dumps(mapping, sort_keys=True) if mapping else None
