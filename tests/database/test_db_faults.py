"""The database's own failures end in one message naming the database and what to do,
exit 1, never a traceback (issue 13, items 6 and 7): disk full, a read-only file, a
damaged file (its header, or three pages in the middle: writes are refused), a database
locked beyond the busy timeout, PostgreSQL unreachable, an unexpected constraint
violation; and the web shows the message as a page.

Each command runs in its own process, as an operator runs it."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from db_helpers import INPUTS, assert_one_message, cli, write_config

IS_ROOT = os.geteuid() == 0


def _mount(*args: str) -> bool:
    return IS_ROOT and subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def small_disk(folder, size: str):
    """A tmpfs of ``size`` mounted on ``folder`` (root only); yields whether it is mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _imported(tmp_path, folder):
    """A SQLite database in ``folder`` with one import (made in this process: faster)."""
    from openchargeback.config import load_settings
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest

    cfg = write_config(tmp_path, f"sqlite:///{folder}/billing.db")
    ctx = build_context(load_settings(cfg), actor="test")
    ingest(ctx, INPUTS / "aws_2025-01.csv", "aws")
    ctx.engine.dispose()
    return cfg, folder / "billing.db"


@pytest.mark.parametrize("how", ["small filesystem", "file size limit"])
def test_disk_full_one_message(tmp_path, how):
    """A full disk: a tmpfs the test mounts and fills (ENOSPC; needs root), and a file
    size limit on the process (RLIMIT_FSIZE: the write fails with EFBIG, which SQLite
    reports as an I/O error). Either way one message and nothing written."""
    folder = tmp_path / "disk"
    with small_disk(folder, "3m") if how == "small filesystem" else contextlib.nullcontext(False) as mounted:
        if how == "small filesystem" and not mounted:
            pytest.skip("mounting a tmpfs needs root; the file size limit variant stands in")
        cfg, path = _imported(tmp_path, folder)
        limit = None
        if mounted:  # fill the disk: the next import's write hits ENOSPC
            with (folder / "filler").open("wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        else:  # the command's new -wal file may not grow past 48 KiB (the 32 KiB -shm fits)
            limit = 48 * 1024

        def preexec():
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        done = cli("ingest", INPUTS / "aws_2025-12.csv", "-s", "aws", "-c", cfg, preexec=preexec)
        if mounted:
            assert_one_message(done, f"the disk holding {path.parent} is full", str(path), "Free space")
            (folder / "filler").unlink()
        else:
            assert_one_message(done, str(path), "input/output error", "nothing was written")
        listed = cli("imports", "list", "-c", cfg)
        assert listed.returncode == 0 and "aws_2025-12.csv" not in listed.stdout  # nothing written


def test_read_only_database_one_message(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    cfg, path = _imported(tmp_path, folder)
    remounted = _mount("--bind", str(folder), str(folder)) and _mount("-o", "remount,ro,bind", str(folder))
    if not remounted:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)
        path.chmod(0o444)
        folder.chmod(0o555)
    try:
        done = cli("periods", "open", "2025-03", "-c", cfg)
        assert_one_message(done, str(path), "read-only", "writable")
    finally:
        if remounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        else:
            folder.chmod(0o755)


def test_damaged_header_one_message(tmp_path):
    cfg, path = _imported(tmp_path, tmp_path / "db")
    with path.open("r+b") as f:
        f.write(os.urandom(4096))
    for args in (("periods", "list"), ("ingest", INPUTS / "aws_2025-12.csv", "-s", "aws")):
        done = cli(*args, "-c", cfg)
        assert_one_message(done, str(path), "is damaged", "db restore")


def test_three_pages_overwritten_refuses_writes(tmp_path):
    """The issue's case: with three pages of the file overwritten, ingest added data
    with exit 0. Now it refuses, whether its own reads meet the damage or not."""
    cfg, path = _imported(tmp_path, tmp_path / "db")
    with sqlite3.connect(path) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert pages > 20
    with path.open("r+b") as f:
        for n in (pages // 3, pages // 2, 2 * pages // 3):
            f.seek(n * page)
            f.write(os.urandom(page))
    before = path.read_bytes()
    done = cli("ingest", INPUTS / "aws_2025-12.csv", "-s", "aws", "-c", cfg)
    assert_one_message(done, str(path), "is damaged", "db restore")
    # Nothing was written. (Not a count of imports: the damage may hit that table's
    # pages, and then the test's own read would fail.)
    wal = path.with_name(path.name + "-wal")
    assert path.read_bytes() == before and (not wal.exists() or wal.stat().st_size == 0)
    check = cli("db", "check", "-c", cfg)
    assert check.returncode == 1 and "Traceback" not in check.stderr, check.stdout + check.stderr
    assert "storage" in check.stdout and "problem(s)" in check.stdout


def test_damage_the_command_never_reads_still_refuses_writes(tmp_path):
    """Pages of tables `periods open` never reads: SQLite alone would write on; the
    quick_check before a process's first write refuses."""
    cfg, path = _imported(tmp_path, tmp_path / "db")
    with sqlite3.connect(path) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        tables = "'budget_alerts', 'import_problems', 'fund_splits'"
        roots = [r[0] for r in conn.execute(f"SELECT rootpage FROM sqlite_master WHERE name IN ({tables})")]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert len(roots) == 3
    with path.open("r+b") as f:
        for n in roots:
            f.seek((n - 1) * page)
            f.write(os.urandom(page))
    assert cli("periods", "list", "-c", cfg).returncode == 0  # reads go on
    done = cli("periods", "open", "2025-03", "-c", cfg)
    assert_one_message(done, str(path), "is damaged", "quick_check", "db restore")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM periods WHERE name = '2025-03'").fetchone()[0] == 0
    assert_one_message(cli("db", "upgrade", "-c", cfg), str(path), "is damaged", "quick_check")


def test_locked_database_one_message(tmp_path):
    cfg, path = _imported(tmp_path, tmp_path / "db")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); c.execute(\"INSERT INTO periods (name, starts_at, ends_at, "
            "status, created_at) VALUES ('2031-01', 'x', 'x', 'open', 'x')\")\n"
            "print('held', flush=True); time.sleep(60)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        done = cli("periods", "open", "2025-03", "-c", cfg, busy_ms=1000)
        assert_one_message(done, str(path), "locked by another process", "Run the command again")
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()


def test_postgresql_unreachable_one_message(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = write_config(tmp_path, f"postgresql+psycopg://billing:secret@127.0.0.1:{port}/billing")
    done = cli("periods", "list", "-c", cfg)
    line = assert_one_message(
        done, f"cannot reach PostgreSQL database billing at 127.0.0.1:{port}", "database.url"
    )
    assert "secret" not in line


def test_unexpected_constraint_violation_message(db_url, make_ctx):
    """A write the schema refuses (here: a second period of one name, inserted behind the
    services' back) is told as a fault of the product, with the rule it broke."""
    from datetime import UTC, datetime

    from openchargeback.services import database
    from openchargeback.storage.tables import periods

    ctx = make_ctx(db_url)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    row = {"name": "2025-01", "starts_at": now, "ends_at": now, "status": "open", "created_at": now}
    with ctx.write() as conn:
        conn.execute(periods.insert().values(**row))
    with pytest.raises(Exception) as caught, ctx.write() as conn:
        conn.execute(periods.insert().values(**row))
    fault = database.fault_of(caught.value)
    assert fault is not None and fault.http_status == 503
    assert "refused a write that would break its rules" in fault.message
    assert "periods" in fault.message and "db check" in fault.message
    expected = "database file" if db_url.startswith("sqlite") else "PostgreSQL database"
    assert fault.message.startswith(expected), fault.message


def test_web_shows_a_locked_database_as_a_page(tmp_path, monkeypatch):
    """A login (it writes a session row) while another process holds the write lock
    beyond the busy timeout: a page with the message, status 503."""
    import re

    from fastapi.testclient import TestClient

    from openchargeback.config import Settings
    from openchargeback.services import users
    from openchargeback.services.context import build_context
    from openchargeback.storage import db
    from openchargeback.web.app import create_app

    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 1000)
    path = tmp_path / "billing.db"
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{path}"},
            "sources": [{"name": "aws"}],
            "server": {"secret_key": "test-secret-5e1d0c9b8a7f6e5d4c3b", "data_dir": str(tmp_path)},
            "dev_mode": False,
        }
    )
    ctx = build_context(settings, actor="test")
    users.add_user(ctx, "admin", "correct horse battery", "admin")
    ctx.engine.dispose()
    app = create_app(settings)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        client = TestClient(app, base_url="https://testserver")
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        holder.execute("BEGIN EXCLUSIVE")
        answer = client.post(
            "/login",
            data={"username": "admin", "password": "correct horse battery", "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )
        assert answer.status_code == 503, answer.text[:2000]
        assert "locked by another process" in answer.text and str(path) in answer.text
        assert "Traceback" not in answer.text
    finally:
        holder.close()
        app.state.runner.shutdown()
        app.state.ctx.engine.dispose()
