"""Migration 0019 (issue 21) takes charges.import_id's foreign key away (and back, on
downgrade) without touching a row: PostgreSQL checked it row by row on every import."""

from __future__ import annotations

import sys

from alembic import command
from sqlalchemy import text

from conftest import ROOT
from openchargeback.config import Settings
from openchargeback.services.context import build_context
from openchargeback.services.ingest.loading import ingest
from openchargeback.storage import db

sys.path.insert(0, str(ROOT / "bench"))
from focusgen import generate_realistic  # noqa: E402


def _import_fks(conn) -> list:
    if conn.dialect.name == "postgresql":
        return conn.execute(
            text(
                "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid = 'charges'::regclass AND confrelid = 'imports'::regclass"
            )
        ).all()
    return [r for r in conn.exec_driver_sql("PRAGMA foreign_key_list(charges)") if r[2] == "imports"]


def test_migration_0019_drops_the_import_foreign_key_and_keeps_the_rows(db_url, tmp_path):
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        ctx = build_context(
            Settings.model_validate({"database": {"url": db_url}, "sources": [{"name": "aws"}]})
        )
        path = tmp_path / "f.csv"
        generate_realistic(path, 500)
        ingest(ctx, path, "aws")
        ctx.engine.dispose()
        with engine.connect() as conn:
            before = conn.execute(text("SELECT count(*), sum(billed_cost) FROM charges")).one()
            assert _import_fks(conn) == []
        for target in ("0018_review_disputes", "head"):
            with engine.begin() as conn:
                (command.downgrade if target != "head" else command.upgrade)(
                    db.alembic_config(engine, conn), target
                )
            with engine.connect() as conn:
                assert len(_import_fks(conn)) == (1 if target != "head" else 0)
                assert conn.execute(text("SELECT count(*), sum(billed_cost) FROM charges")).one() == before
                if conn.dialect.name == "sqlite":
                    assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
                    assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    finally:
        engine.dispose()
