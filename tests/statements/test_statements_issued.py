"""Issued statements never change, and their files are kept in step with the database.

A finalized period's ``generate`` writes the stored bytes and renders nothing, however the
branding or the templates changed since. The output directory is reconciled on every
``generate``: a missing, truncated or damaged PDF or CSV of a current version is rewritten
from the database (even when every statement is unchanged), through a temporary name and a
rename, and ``check_statement_files`` (the ``db check`` part) lists what is wrong. A
``generate`` killed or refused by a full disk while writing files leaves nothing that the
next ``generate`` does not repair (the writers fail in a real subprocess)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import select

from conftest import settings_dict
from openchargeback.services.periods import change_status
from openchargeback.services.statements import check_statement_files, statement_file
from openchargeback.services.statements.generation import generate
from openchargeback.storage.statement_tables import statement_documents, statements

from .conftest import close, load_sample, statement_settings

CRASH = Path(__file__).parent / "crash_generate.py"


def _stored(ctx) -> dict[str, bytes]:
    """file name -> bytes of every current version's PDF and CSV, from the database."""
    out = {}
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(statements.c.number, statements.c.version, statement_documents)
            .join(statement_documents, statement_documents.c.statement_id == statements.c.id)
            .where(statements.c.status == "current")
        ).all()
    for r in rows:
        out[f"{r.number}-v{r.version}.pdf"] = bytes(r.pdf)
        if r.detail_csv is not None:
            out[f"{r.number}-v{r.version}-detail.csv"] = bytes(r.detail_csv)
    return out


def _on_disk(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_finalized_statements_stay_byte_identical_after_branding_and_templates_change(
    db_url, make_stmt_ctx, tmp_path
):
    ctx = make_stmt_ctx(db_url)
    load_sample(ctx)
    close(ctx)
    first = generate(ctx, "2025-01")
    change_status(ctx, "2025-01", "finalize")
    out = tmp_path / "out" / "2025-01"
    issued = _on_disk(out)
    assert issued == _stored(ctx) and any(n.endswith(".csv") for n in issued)

    # The organisation is renamed and the statement template replaced.
    override = tmp_path / "templates"
    override.mkdir()
    (override / "statement.html").write_text(
        (Path(__file__).parents[2] / "src/openchargeback/rendering/templates/statement.html")
        .read_text()
        .replace("Only charges approved in review are included.", "A NEW TEMPLATE SENTENCE.")
    )
    renamed = make_stmt_ctx(
        db_url,
        dev_mode=True,
        statements={
            "template_dir": str(override),
            "branding": {"organisation": "Renamed Research Computing", "currency_symbol": "$"},
        },
    )
    again = generate(renamed, "2025-01")
    assert {s.action for s in again.statements} == {"unchanged"}
    assert [(s.number, s.version) for s in again.statements] == [
        (s.number, s.version) for s in first.statements
    ]
    assert _on_disk(out) == issued  # every issued PDF and CSV byte-identical
    assert _stored(renamed) == issued
    number = first.statements[0].number
    assert statement_file(renamed, number)[1] == issued[f"{number}-v1.pdf"]
    assert again.notes and "finalized" in again.notes[0]

    # The files are repaired from the database, not rendered again.
    (out / f"{number}-v1.pdf").unlink()
    restored = generate(renamed, "2025-01")
    assert _on_disk(out) == issued
    assert restored.restored == (f"{number}-v1.pdf",)


def test_each_version_records_its_template_hash_and_software_version(db_url, make_stmt_ctx):
    from openchargeback import __version__
    from openchargeback.services.statements import renderer_for

    ctx = make_stmt_ctx(db_url)
    load_sample(ctx)
    close(ctx)
    generate(ctx, "2025-01", project="climate-modeling")
    with ctx.engine.connect() as conn:
        row = conn.execute(select(statements.c.template_hash, statements.c.software_version)).one()
        doc = conn.execute(select(statement_documents)).one()
    assert row.template_hash == renderer_for(ctx.settings).template_hash
    assert row.software_version == __version__
    assert doc.pdf_sha256 == hashlib.sha256(doc.pdf).hexdigest()


def test_missing_truncated_and_damaged_files_are_restored_by_generate(db_url, make_stmt_ctx, tmp_path):
    ctx = make_stmt_ctx(db_url)
    load_sample(ctx)
    close(ctx)
    generate(ctx, "2025-01")
    out = tmp_path / "out" / "2025-01"
    issued = _on_disk(out)
    pdfs = sorted(n for n in issued if n.endswith(".pdf"))
    csv = next(n for n in issued if n.endswith(".csv"))
    assert check_statement_files(ctx) == []

    (out / pdfs[0]).unlink()
    (out / pdfs[1]).write_bytes(b"")  # truncated to nothing
    (out / pdfs[2]).write_bytes(issued[pdfs[2]][: len(issued[pdfs[2]]) // 2])  # cut short
    damaged = bytearray(issued[csv])
    damaged[-3] ^= 0xFF
    (out / csv).write_bytes(bytes(damaged))
    stale = out / f".{pdfs[3]}~{socket.gethostname()}~999999999.tmp"  # its writer is gone
    stale.write_bytes(b"")

    problems = check_statement_files(ctx)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert f"{pdfs[0]} is missing" in text
    assert f"{pdfs[1]} has 0 bytes" in text and f"{pdfs[2]} has {len(issued[pdfs[2]]) // 2} bytes" in text
    assert f"{csv} differs" in text
    assert stale.name in text and "generate -p 2025-01" in text

    again = generate(ctx, "2025-01")  # nothing changed: every statement unchanged ...
    assert {s.action for s in again.statements} == {"unchanged"}
    assert set(again.restored) == {pdfs[0], pdfs[1], pdfs[2], csv}  # ... and the files repaired
    assert any("restored" in n for n in again.notes)
    assert _on_disk(out) == issued == _stored(ctx)
    assert not stale.exists()
    assert check_statement_files(ctx) == []

    # A finalized period is repaired the same way.
    change_status(ctx, "2025-01", "finalize")
    (out / pdfs[4]).write_bytes(b"%PDF-1.7 not the issued one")
    assert [p for p in check_statement_files(ctx) if pdfs[4] in p]
    assert generate(ctx, "2025-01").restored == (pdfs[4],)
    assert _on_disk(out) == issued


def _crash(config: Path, mode: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CRASH), str(config), "2025-01", mode],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )


def test_a_generate_killed_or_out_of_disk_while_writing_files_is_repaired_by_the_next(
    db_url, make_stmt_ctx, tmp_path
):
    settings = statement_settings(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings_dict(db_url, **settings)))
    ctx = make_stmt_ctx(db_url)
    load_sample(ctx)
    close(ctx)
    out = tmp_path / "out" / "2025-01"

    # kill -9 while the third file is written: the statements are stored, the files not all.
    killed = _crash(config, "kill")
    assert killed.returncode == -9, killed.stderr
    stored = _stored(ctx)
    assert len(stored) > 4
    written = {p.name for p in out.iterdir() if not p.name.endswith(".tmp")}
    assert len(written) == 2 and written < set(stored)
    assert [p.name for p in out.glob(".*.tmp")]  # the file being written when it died
    problems = check_statement_files(ctx)
    assert len(problems) == len(stored) - 2 + 1  # the missing files and the stale temporary one

    # The disk fills up while the missing files are written: one clear message, exit 1.
    full = _crash(config, "full")
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    assert "were not all written" in full.stderr and "generate -p 2025-01" in full.stderr
    assert "File too large" in full.stderr
    assert check_statement_files(ctx)

    again = generate(ctx, "2025-01")
    assert {s.action for s in again.statements} == {"unchanged"}
    assert _on_disk(out) == stored
    assert check_statement_files(ctx) == []


def test_migration_0012_hashes_the_documents_already_stored(db_url):
    from alembic import command
    from sqlalchemy import text

    from openchargeback.storage import db

    engine = db.make_engine(db_url)

    def migrate(how, revision: str) -> None:
        with engine.begin() as conn:
            conn.info["write"] = True
            how(db.alembic_config(engine, conn), revision)

    try:
        migrate(command.upgrade, "0011_ledger_guards")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO periods (id, name, starts_at, ends_at, status, created_at) VALUES "
                    "(1, '2025-01', '2025-01-01 00:00:00', '2025-02-01 00:00:00', 'finalized', "
                    "'2025-02-01 00:00:00')"
                )
            )
            for sid, csv in ((1, None), (2, b"a,b\n")):
                conn.execute(
                    text(
                        "INSERT INTO statements (id, number, version, sequence, period_id, kind, currency, "
                        "status, list_total, discount_total, due_total, charge_count, line_count, "
                        "content_hash, template_hash, data, generated_by, generated_at) VALUES "
                        f"({sid}, 'ST-202501-000{sid}', 1, {sid}, 1, 'project', 'USD', 'current', '1', "
                        "'0', '1', 1, 1, 'c', 't', '{}', 'me', '2025-02-01 00:00:00')"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO statement_documents (statement_id, pdf, detail_csv) VALUES (:s, :p, :c)"
                    ),
                    {"s": sid, "p": b"%PDF " + bytes([sid]), "c": csv},
                )
        migrate(command.upgrade, "0012_issued_documents")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT statement_id, pdf_sha256, csv_sha256 FROM statement_documents ORDER BY 1")
            ).all()
            versions = conn.execute(text("SELECT software_version FROM statements")).scalars().all()
        assert [tuple(r) for r in rows] == [
            (1, hashlib.sha256(b"%PDF \x01").hexdigest(), None),
            (2, hashlib.sha256(b"%PDF \x02").hexdigest(), hashlib.sha256(b"a,b\n").hexdigest()),
        ]
        assert versions == [None, None]  # rendered before versions were recorded
        migrate(command.downgrade, "0011_ledger_guards")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM statement_documents")).scalar_one() == 2
    finally:
        engine.dispose()


def test_db_check_reports_a_missing_statement_file(sqlite_url, make_stmt_ctx, tmp_path, run_cli):
    ctx = make_stmt_ctx(sqlite_url)
    load_sample(ctx)
    close(ctx)
    (s, *_) = generate(ctx, "2025-01").statements
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings_dict(sqlite_url, **statement_settings(tmp_path))))
    assert run_cli("db", "check", "-c", config)[0] == 0
    Path(s.path).unlink()
    code, out, err = run_cli("db", "check", "-c", config)
    assert code == 1
    assert f"{Path(s.path).name} is missing" in out + err
    change_status(ctx, "2025-01", "reopen", "a late charge")  # generate refuses an open period
    assert check_statement_files(ctx)[0].endswith(
        "rewrites it from the database once the period is closed again"
    )


def test_two_generates_repairing_the_same_folder_at_once_leave_every_file_whole(
    db_url, make_stmt_ctx, tmp_path
):
    settings = statement_settings(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings_dict(db_url, **settings)))
    ctx = make_stmt_ctx(db_url)
    load_sample(ctx)
    close(ctx)
    generate(ctx, "2025-01")
    change_status(ctx, "2025-01", "finalize")
    out = tmp_path / "out" / "2025-01"
    stored = _stored(ctx)
    for p in out.iterdir():
        p.unlink()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openchargeback",
                "generate",
                "-p",
                "2025-01",
                "-c",
                str(config),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    restored = [set(json.loads(o)["restored"]) for o, _ in results]
    assert restored[0] | restored[1] == set(stored)  # between them, every file (both may write one)
    assert _on_disk(out) == stored  # whole files only, no temporary file left
