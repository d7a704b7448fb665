"""An import killed with SIGKILL leaves nothing behind: no charges, no import record,
no periods; importing the same file afterwards works. A real subprocess running
`python -m openchargeback ingest` on a generated 300,000-row file."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from focusgen import generate  # noqa: E402

pytestmark = pytest.mark.slow  # a 300,000-row file, killed subprocesses
ROWS = 300_000
TABLES = (
    "charges",
    "imports",
    "periods",
    "period_transitions",
    "charge_details",
    "tag_sets",
    "import_totals",
    "import_problems",
)


@pytest.fixture(scope="session")
def big_file(tmp_path_factory) -> Path:
    """One generated file for the whole run (shared by the xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / f"interrupted-{ROWS}.csv"
    with open(root / "interrupted.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            part = path.with_suffix(".part")
            generate(part, ROWS)
            part.rename(path)
    return path


def start_ingest(path: Path, config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openchargeback",
            "ingest",
            str(path),
            "-s",
            "aws",
            "-c",
            str(config),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def file_position(pid: int, path: Path) -> int:
    """How far the process has read ``path`` (largest offset of its open descriptors)."""
    best = -1
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                        best = max(best, int(info.readline().split()[1]))
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        pass
    return best


class ReadProgress:
    """The furthest the process has read ``path`` so far (the reader closes the file
    once it has read it all, while the last batches are still being stored)."""

    def __init__(self, proc: subprocess.Popen, path: Path):
        self.proc, self.path, self.furthest = proc, path, -1

    def __call__(self) -> int:
        self.furthest = max(self.furthest, file_position(self.proc.pid, self.path))
        return self.furthest


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120, every: float = 0.002) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False if it ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if ready():
            proc.kill()
            proc.wait(timeout=30)
            return True
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the import never reached the point to interrupt")
        time.sleep(every)
    return False


def sqlite_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)  # recovers the WAL as SQLite would after a crash
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


def finish_import(path: Path, config: Path) -> dict:
    proc = start_ingest(path, config)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_killed_mid_read_and_mid_commit(big_file, db_url, tmp_path, write_config):
    size = big_file.stat().st_size
    db = Path(db_url.removeprefix("sqlite:///"))
    wal = Path(f"{db}-wal")
    config = write_config(db_url)
    subprocess.run(
        [sys.executable, "-m", "openchargeback", "db", "upgrade", "-c", str(config)],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )

    # 1. Killed half-way through reading the file.
    proc = start_ingest(big_file, config)
    read = ReadProgress(proc, big_file)
    assert kill_when(proc, lambda: read() >= size // 2)
    assert proc.returncode == -9
    assert sqlite_counts(db) == dict.fromkeys(TABLES, 0)

    # 2. Killed while the transaction is being written to the WAL (the commit of a
    #    large import): the frames without a commit record are ignored on recovery.
    #    Should the commit win the race, start again on a fresh database.
    for attempt in range(3):
        if attempt:
            db = tmp_path / f"billing{attempt}.db"
            wal = Path(f"{db}-wal")
            config = write_config(f"sqlite:///{db}")
        proc = start_ingest(big_file, config)
        if kill_when(proc, lambda w=wal: w.exists() and w.stat().st_size > (1 << 20)):
            break
    else:
        pytest.fail("the import committed before it could be interrupted, three times")
    assert proc.returncode == -9
    assert wal.stat().st_size > (1 << 20)  # half a transaction is on disk...
    assert sqlite_counts(db) == dict.fromkeys(TABLES, 0)  # ...and none of it counts

    # 3. The same file imports afterwards: it was never recorded, so it is no duplicate.
    result = finish_import(big_file, config)
    assert result["status"] == "imported" and result["rows"] == ROWS
    counts = sqlite_counts(db)
    assert counts["charges"] == ROWS and counts["imports"] == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_killed_mid_copy(big_file, db_url, write_config):
    size = big_file.stat().st_size
    config = write_config(db_url)
    subprocess.run(
        [sys.executable, "-m", "openchargeback", "db", "upgrade", "-c", str(config)],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    engine = create_engine(db_url)  # search_path: this test's schema
    try:

        def staging() -> bool:
            """An import's transaction is COPYing rows (batch by batch while the file is
            read, into its new period's table or its staging tables; uncommitted, so seen
            by its activity only)."""
            with engine.connect() as conn:
                return bool(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND backend_xid IS NOT NULL AND query LIKE 'COPY %FROM STDIN%'"
                        )
                    ).scalar_one()
                )

        proc = start_ingest(big_file, config)
        read = ReadProgress(proc, big_file)
        assert kill_when(proc, lambda: read() >= size // 2 and staging(), every=0.02)
        assert proc.returncode == -9

        def counts() -> dict[str, int]:
            with engine.connect() as conn:
                return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}

        assert counts() == dict.fromkeys(TABLES, 0)
        result = finish_import(big_file, config)
        assert result["status"] == "imported" and result["rows"] == ROWS
        got = counts()
        assert got["charges"] == ROWS and got["imports"] == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_connection_lost_mid_copy(big_file, db_url, write_config):
    """The server ends the import's session while its rows stream in: the import stops
    with one message (no traceback, no hang), leaves nothing, and runs again."""
    name = f"lost-copy-{os.getpid()}"  # its sessions only: other tests' imports run alongside
    config = write_config(f"{db_url}&application_name={name}")
    engine = create_engine(db_url)
    copying = (
        f"FROM pg_stat_activity WHERE application_name = '{name}' "
        "AND backend_xid IS NOT NULL AND query LIKE 'COPY %FROM STDIN%'"
    )
    try:
        proc = start_ingest(big_file, config)
        deadline = time.monotonic() + 120
        ended = 0
        while not ended and proc.poll() is None and time.monotonic() < deadline:
            with engine.connect() as conn:
                ended = conn.execute(text(f"SELECT count(pg_terminate_backend(pid)) {copying}")).scalar_one()
            time.sleep(0.02)
        assert ended == 1
        out, err = proc.communicate(timeout=120)
        assert proc.returncode != 0 and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1 and "database" in err.lower(), err
        with engine.connect() as conn:
            assert {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES} == (
                dict.fromkeys(TABLES, 0)
            )
        result = finish_import(big_file, config)
        assert result["status"] == "imported" and result["rows"] == ROWS
    finally:
        engine.dispose()
