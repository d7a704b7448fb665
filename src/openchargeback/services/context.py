"""The services' shared context: engine, settings, clock and the acting user."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from openchargeback.config import Settings
from openchargeback.storage import db
from openchargeback.storage import sources as sources_repo


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    engine: Engine
    actor: str = "system"
    clock: Callable[[], datetime] = field(default=_now)

    def read(self):
        return db.unit_of_work(self.engine, write=False)

    def write(self, attach: Path | None = None):
        """A write transaction; ``attach``: a SQLite staging file, readable as ``stage``."""
        return db.unit_of_work(self.engine, write=True, attach=attach)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def as_actor(self, actor: str) -> Context:
        return Context(self.settings, self.engine, actor, self.clock)


def build_context(settings: Settings, *, actor: str | None = None, migrate: bool = True) -> Context:
    """Engine for the configured database, schema checked, config sources synced."""
    engine = db.make_engine(settings.database.url)
    ctx = Context(settings, engine, actor or f"cli:{_user()}")
    if migrate:
        db.ensure_schema(engine)
        sync_sources(ctx)
    return ctx


def sync_sources(ctx: Context) -> None:
    wanted = ctx.settings.source_dicts()
    if not wanted:
        return
    with ctx.read() as conn:
        current = {r.name: r for r in sources_repo.list_all(conn)}
    if all(_same(current.get(w["name"].lower()), w) for w in wanted):
        return
    with ctx.write() as conn:
        sources_repo.sync_from_config(conn, wanted, ctx.clock())


def _same(row, wanted: dict) -> bool:
    import json

    if row is None or not row.from_config:
        return False
    mapping = json.dumps(wanted["tag_mapping"], sort_keys=True) if wanted["tag_mapping"] else None
    return all(getattr(row, k) == wanted.get(k) for k in sources_repo.FIELDS) and row.tag_mapping == mapping


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
