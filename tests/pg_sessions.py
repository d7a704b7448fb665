"""Tests on PostgreSQL that need another session to be at a given point first."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text


def wait_for_sessions(engine: Engine, where: str, count: int = 1, timeout: float = 120) -> int:
    """Poll pg_stat_activity until ``count`` sessions match ``where`` (or ``timeout``
    seconds passed); how many matched last."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            got = conn.execute(text(f"SELECT count(*) FROM pg_stat_activity WHERE {where}")).scalar_one()
        if got >= count or time.monotonic() > deadline:
            return int(got)
        time.sleep(0.05)
