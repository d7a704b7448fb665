"""Database schema upgrades."""

from __future__ import annotations

from openchargeback.config import Settings
from openchargeback.storage import db


def upgrade_database(settings: Settings) -> tuple[str | None, str]:
    engine = db.make_engine(settings.database.url)
    try:
        return db.upgrade(engine)
    finally:
        engine.dispose()
