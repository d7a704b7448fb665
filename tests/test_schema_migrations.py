"""The Alembic migrations build exactly the tables of the code's metadata, on SQLite and
PostgreSQL; a new database is migrated on first use; the layer contracts hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from conftest import ROOT
from openchargeback.domain.errors import ConfigError
from openchargeback.storage import db
from openchargeback.storage.schema import metadata


def test_migrated_database_matches_the_metadata(db_url):
    engine = db.make_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
        before, after = db.upgrade(engine)
        assert before is None and after == db.head_revision(engine)
        with engine.connect() as conn:
            mc = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(mc, metadata)
        assert diffs == []
        insp = inspect(engine)
        assert set(insp.get_table_names()) == set(metadata.tables) | {"alembic_version"}
        for name, table in metadata.tables.items():
            assert [c["name"] for c in insp.get_columns(name)] == [c.name for c in table.columns]
            assert {i["name"] for i in insp.get_indexes(name)} >= {i.name for i in table.indexes}
    finally:
        engine.dispose()


def test_money_columns_are_integers_never_floats(db_url):
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("charges")}
        for name in ("billed_cost", "effective_cost", "list_cost", "contracted_cost"):
            assert "INT" in str(columns[name]).upper(), (name, columns[name])
        for table in inspect(engine).get_table_names():
            for c in inspect(engine).get_columns(table):
                kind = str(c["type"]).upper()
                assert "FLOAT" not in kind and "REAL" not in kind and "DOUBLE" not in kind, (
                    table,
                    c["name"],
                    kind,
                )
    finally:
        engine.dispose()


def test_reader_length_limits_match_the_ledger_columns():
    from openchargeback.focus.columns import DETAIL_COLUMNS, MAX_LENGTH
    from openchargeback.storage.tables import charge_details

    def snake(name: str) -> str:
        return "".join("_" + ch.lower() if ch.isupper() and i else ch.lower() for i, ch in enumerate(name))

    for name in DETAIL_COLUMNS:
        length = getattr(charge_details.c[snake(name)].type, "length", None)
        assert MAX_LENGTH.get(name) == length, name


def test_new_database_is_migrated_on_first_use(db_url, make_ctx):
    ctx = make_ctx(db_url)
    assert db.current_revision(ctx.engine) == db.head_revision(ctx.engine)
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sources")).scalar_one() == 6


def test_foreign_database_is_refused(db_url):
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE unrelated (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    engine = db.make_engine(db_url)
    try:
        with pytest.raises(ConfigError, match="not an OpenChargeback database"):
            db.ensure_schema(engine)
    finally:
        engine.dispose()


def test_old_revision_must_be_upgraded_explicitly(db_url):
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        with pytest.raises(ConfigError, match="openchargeback db upgrade"):
            db.ensure_schema(engine)
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url):
    engine = db.make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" in proc.stdout and " 0 broken" in proc.stdout
