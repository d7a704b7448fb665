"""Edits of database-declared sources (the web's source form)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from openchargeback.storage.tables import sources

EDITABLE = ("display_name", "file_pattern", "cost_basis", "gl_fund_org", "gl_account")


def update(conn: Connection, source_id: int, values: dict) -> None:
    values = {k: v for k, v in values.items() if k in EDITABLE}
    if values:
        conn.execute(sa.update(sources).where(sources.c.id == source_id).values(**values))
