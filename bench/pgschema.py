"""A fresh PostgreSQL schema for one benchmark run, dropped with its contents at the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_schema(db_url: str) -> Iterator[str]:
    """Create a schema ``bench_<random>`` on ``db_url``; yield a URL whose connections use
    it (their search_path); drop it at the end, whatever happened."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(db_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in db_url else "?"
        try:
            yield f"{db_url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
