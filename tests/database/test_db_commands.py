"""`db check`, `db backup`, `db restore` and `db copy` (issue 13, item 9): a backup taken
while another process imports restores to a database that passes `db check` with the
totals of what had committed; a restore refuses to overwrite without --force; `db check`
finds a tampered sum; `db copy` SQLite -> PostgreSQL -> SQLite keeps every table, the
totals and the statement PDFs byte for byte."""

from __future__ import annotations

import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from db_helpers import INPUTS, ROOT, cli, figures, write_config
from sqlalchemy import create_engine, select, text, update

from conftest import PG_URL, REQUIRE_PG, _pg_available


@pytest.fixture
def pg_schema_url():
    """An empty PostgreSQL schema (dropped afterwards)."""
    if not _pg_available():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but {PG_URL} is unreachable")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _in_process(run_cli):
    """The CLI in this process (faster than a process each), answering like ``cli``."""

    def run(*args):
        code, out, err = run_cli(*args)
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def _sample(make_ctx, url: str):
    from openchargeback.services.ingest.loading import ingest

    ctx = make_ctx(url)
    for source in ("aws", "azure", "hpc"):
        ingest(ctx, INPUTS / f"{source}_2025-01.csv", source, period="2025-01")
    return ctx


def test_db_check_passes_then_finds_a_tampered_sum(db_url, make_ctx, write_config, run_cli):
    ctx = _sample(make_ctx, db_url)
    cfg = write_config(db_url)
    code, out, err = run_cli("db", "check", "-c", cfg)
    assert code == 0, out + err
    assert "all checks passed" in out and "import totals    ok" in out

    from openchargeback.storage.tables import charges, imports

    with ctx.engine.begin() as conn:  # behind the ledger's back: one charge a cent more
        first = conn.execute(select(charges.c.id, charges.c.import_id).order_by(charges.c.id)).first()
        more = charges.c.billed_cost + Decimal("0.01")
        conn.execute(update(charges).where(charges.c.id == first.id).values(billed_cost=more))
        last = conn.execute(select(imports.c.id).order_by(imports.c.id.desc()).limit(1)).scalar_one()
        conn.execute(update(imports).where(imports.c.id == last).values(status="replaced"))
    code, out, err = run_cli("db", "check", "-c", cfg, "--json")
    assert code == 1, out + err
    import json

    report = json.loads(out)
    problems = {c["check"]: c["problems"] for c in report["checks"]}
    assert problems["storage"] == [] and problems["schema"] == []
    assert any(
        f"import #{first.import_id}: BilledCost" in p and "a difference of" in p
        for p in problems["import totals"]
    )
    assert any("without their import, or of a replaced import" in p for p in problems["references"])


def test_restore_refuses_to_overwrite_without_force(tmp_path, make_ctx, run_cli):
    run = _in_process(run_cli)
    url = f"sqlite:///{tmp_path}/billing.db"
    _sample(make_ctx, url).engine.dispose()
    cfg = write_config(tmp_path, url)
    backup = tmp_path / "backups" / "billing-2025-01.db"
    backup.parent.mkdir()
    done = run("db", "backup", backup, "-c", cfg)
    assert done.returncode == 0 and backup.exists(), done.stderr
    assert run("db", "backup", backup, "-c", cfg).returncode == 1  # never overwritten unasked
    before = figures(url)

    done = run("db", "restore", backup, "-c", cfg)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "is not empty" in done.stderr and "--force" in done.stderr

    empty = tmp_path / "new"
    empty.mkdir()
    cfg2 = write_config(empty, f"sqlite:///{empty}/billing.db")
    done = run("db", "restore", backup, "-c", cfg2)
    assert done.returncode == 0, done.stderr
    assert figures(f"sqlite:///{empty}/billing.db") == before
    assert run("db", "check", "-c", cfg2).returncode == 0

    done = run("db", "restore", backup, "--force", "-c", cfg)
    assert done.returncode == 0, done.stderr
    kept = list(tmp_path.glob("billing.db.before-restore-*"))
    assert len(kept) == 1 and f"kept as {kept[0]}" in done.stdout
    assert figures(url) == before == figures(f"sqlite:///{kept[0]}")

    import sqlite3

    with sqlite3.connect(backup) as conn:  # a backup made by a newer version
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    done = run("db", "restore", backup, "--force", "-c", cfg)
    assert done.returncode == 1 and "which this version does not know" in done.stderr
    assert figures(url) == before


_IMPORT_LOOP = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from focusgen import generate
from openchargeback.config import Settings
from openchargeback.services.context import build_context
from openchargeback.services.ingest.loading import ingest
ctx = build_context(Settings.model_validate({"database": {"url": sys.argv[1]}, "sources": [{"name": "aws"}]}))
folder = Path(sys.argv[2])
for month in range(1, 7):
    path = folder / f"aws_2024-{month:02d}.csv"
    generate(path, 8000, period=f"2024-{month:02d}", seed=month)
    ingest(ctx, path, "aws")
    print("imported", month, flush=True)
"""


@pytest.mark.slow
def test_backup_while_another_process_imports(tmp_path, run_cli):
    """Backups taken while imports commit: each restores to a database that passes
    `db check` and holds whole imports only, with the source's totals for them."""
    url = f"sqlite:///{tmp_path}/billing.db"
    cfg = write_config(tmp_path, url)
    assert cli("periods", "list", "-c", cfg).returncode == 0  # creates the database
    files = tmp_path / "files"
    files.mkdir()
    loop = subprocess.Popen(
        [sys.executable, "-c", _IMPORT_LOOP, url, str(files), str(ROOT / "bench")],
        stdout=subprocess.PIPE,
        text=True,
    )
    backups = []
    try:
        assert loop.stdout.readline().startswith("imported")  # one committed before the first
        while loop.poll() is None and len(backups) < 6:
            backup = tmp_path / f"backup-{len(backups)}.db"
            done = cli("db", "backup", backup, "-c", cfg)
            assert done.returncode == 0, done.stderr
            backups.append(backup)
    finally:
        loop.wait(timeout=300)
    assert loop.returncode == 0
    assert len(backups) >= 2

    from openchargeback.storage import db
    from openchargeback.storage.tables import import_totals, imports

    def imports_of(u: str) -> dict:
        engine = db.make_engine(u)
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    imports.c.id, imports.c.sha256, import_totals.c.cost_column, import_totals.c.stored_total
                )
                .join(import_totals, import_totals.c.import_id == imports.c.id)
                .where(import_totals.c.currency == "USD")
            ).all()
        engine.dispose()
        return {(r.id, r.sha256, r.cost_column): r.stored_total for r in rows}

    final = imports_of(url)
    seen_counts = set()
    for backup in backups:
        folder = tmp_path / f"restored-{backup.stem}"
        folder.mkdir()
        rcfg = write_config(folder, f"sqlite:///{folder}/billing.db")
        code, _, err = run_cli("db", "restore", backup, "-c", rcfg)  # in process: the loop has ended
        assert code == 0, err
        code, out, err = run_cli("db", "check", "-c", rcfg)
        assert code == 0, out + err
        restored_url = f"sqlite:///{folder}/billing.db"
        held = imports_of(restored_url)
        assert held and all(final[k] == v for k, v in held.items())  # whole imports, the source's sums
        billed = sum(v for (_, _, col), v in held.items() if col == "BilledCost")
        assert Decimal(figures(restored_url)["charges BilledCost USD"]) == billed
        seen_counts.add(len(held))
    assert len(seen_counts) >= 2 or max(seen_counts) < len(final), "every backup saw the same state"


def _statement_settings(tmp: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from statements.conftest import statement_settings

    return statement_settings(tmp)


def _statements_on(make_ctx, url: str, tmp: Path):
    from openchargeback.services.statements import generate
    from statements.conftest import close, load_sample

    ctx = make_ctx(url, **_statement_settings(tmp))
    load_sample(ctx)
    close(ctx)
    generate(ctx, "2025-01")
    # the email log and a journal export travel too
    from openchargeback.delivery.outbox import OutboxSender
    from openchargeback.services.journal import export_journal
    from openchargeback.services.statements import send_period

    assert send_period(ctx, "2025-01", sender=OutboxSender(str(tmp / "outbox"))).messages
    export_journal(ctx, "2025-01", "standard", tmp / "journal")
    return ctx


def test_db_check_finds_a_broken_statement_history(tmp_path, make_ctx, run_cli):
    url = f"sqlite:///{tmp_path}/billing.db"
    ctx = _statements_on(make_ctx, url, tmp_path)
    cfg = write_config(tmp_path, url, **_statement_settings(tmp_path))
    code, out, err = run_cli("db", "check", "-c", cfg)
    assert code == 0, out + err

    from openchargeback.storage.statement_tables import statements

    with ctx.engine.begin() as conn:
        first, second, third = conn.execute(
            select(statements.c.id, statements.c.number).order_by(statements.c.id).limit(3)
        )
        conn.execute(update(statements).where(statements.c.id == first.id).values(status="superseded"))
        conn.execute(
            update(statements).where(statements.c.id == third.id).values(number=second.number, version=2)
        )
    ctx.engine.dispose()
    code, out, err = run_cli("db", "check", "-c", cfg)
    assert code == 1, out + err
    assert "statements       2 problem(s)" in out
    assert f"statement {first.number} v1 is superseded but names no later version" in out
    assert f"statement {second.number} has 2 current versions" in out


def _pdfs(url: str) -> dict[int, bytes]:
    from openchargeback.storage.statement_tables import statement_documents

    engine = create_engine(url)
    with engine.connect() as conn:
        out = {r.statement_id: bytes(r.pdf) for r in conn.execute(select(statement_documents))}
    engine.dispose()
    return out


@pytest.mark.slow
def test_copy_sqlite_to_postgresql_and_back(tmp_path, make_ctx, pg_schema_url, run_cli):
    run = _in_process(run_cli)
    url = f"sqlite:///{tmp_path}/billing.db"
    ctx = _statements_on(make_ctx, url, tmp_path)
    ctx.engine.dispose()
    source = figures(url)
    pdfs = _pdfs(url)
    assert pdfs and int(source["rows statements"]) == len(pdfs)
    assert int(source["rows statement_messages"]) and int(source["rows journal_exports"]) == 1
    cfg = write_config(tmp_path, url, **_statement_settings(tmp_path))
    assert run("db", "check", "-c", cfg).returncode == 0

    done = run("db", "copy", "--to", pg_schema_url, "-c", cfg)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "db check of the copy: passed" in done.stdout
    assert figures(pg_schema_url) == source
    assert _pdfs(pg_schema_url) == pdfs

    back = tmp_path / "back"
    back.mkdir()
    pg_cfg = write_config(back, pg_schema_url, **_statement_settings(tmp_path))
    assert run("db", "check", "-c", pg_cfg).returncode == 0
    done = run("db", "copy", "--to", f"sqlite:///{back}/billing.db", "-c", pg_cfg)
    assert done.returncode == 0, done.stdout + done.stderr
    assert figures(f"sqlite:///{back}/billing.db") == source
    assert _pdfs(f"sqlite:///{back}/billing.db") == pdfs

    # the copy continues where the source left off: new rows get new ids (sequences set)
    from openchargeback.services.ingest.loading import ingest

    pg_ctx = make_ctx(pg_schema_url)
    ingest(pg_ctx, INPUTS / "aws_2025-12.csv", "aws", period="2025-12")

    again = run("db", "copy", "--to", pg_schema_url, "-c", cfg)  # never into a database with data
    assert again.returncode == 1 and "is not empty" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.slow
def test_postgresql_backup_and_restore(tmp_path, make_ctx, pg_schema_url, run_cli):
    """pg_dump into FILE (renamed when whole), pg_restore into an empty database that
    `db check` then passes with the source's figures; without pg_dump on PATH the exact
    command is printed and the exit is 1."""
    import os
    import shutil

    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.fail(
            "pg_dump and pg_restore are needed (postgresql-client, in the Makefile's system packages)"
        )
    run = _in_process(run_cli)
    _sample(make_ctx, pg_schema_url).engine.dispose()
    cfg = write_config(tmp_path, pg_schema_url)
    dump = tmp_path / "billing.dump"
    done = run("db", "backup", dump, "-c", cfg)
    assert done.returncode == 0, done.stdout + done.stderr
    assert dump.read_bytes()[:5] == b"PGDMP" and "ran: pg_dump --format=custom" in done.stdout
    assert not list(tmp_path.glob(".billing.dump.tmp-*"))

    # into a new database on the same server: the dump brings its schema
    target_db = f"restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{target_db}"'))
    try:
        schema = pg_schema_url.rsplit("%3D", 1)[1]
        base = PG_URL.rsplit("/", 1)[0]
        target_url = f"{base}/{target_db}?options=-csearch_path%3D{schema}"
        (tmp_path / "t").mkdir()
        tcfg = write_config(tmp_path / "t", target_url)
        done = run("db", "restore", dump, "-c", tcfg)
        assert done.returncode == 0, done.stdout + done.stderr
        assert figures(target_url) == figures(pg_schema_url)
        assert run("db", "check", "-c", tcfg).returncode == 0
        refused = run("db", "restore", dump, "-c", tcfg)  # now it holds data
        assert refused.returncode == 1 and "is not empty" in refused.stderr

        path = os.environ["PATH"]
        os.environ["PATH"] = "/nonexistent"
        try:
            printed = run("db", "backup", tmp_path / "other.dump", "-c", cfg)
        finally:
            os.environ["PATH"] = path
        assert printed.returncode == 1 and "pg_dump is not on PATH; run:" in printed.stdout
        assert (
            f"--file={tmp_path / 'other.dump'}" in printed.stdout and not (tmp_path / "other.dump").exists()
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)'))
        admin.dispose()
