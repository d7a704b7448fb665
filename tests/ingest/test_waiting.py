"""Issue 13: a writer that must wait for an import writing its rows says so, once, and
succeeds when the import has finished (SQLite: the write lock; PostgreSQL: the period's
row, share-locked by the import, that a close waits for).

The import is a real ``openchargeback ingest`` process whose publish (the staged rows'
move into the ledger, inside its write transaction) waits until the test has heard the
other command say that it waits, so that neither depends on the machine's speed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import INPUTS, ROOT

SLOW_PUBLISH = """
import sys, time
from pathlib import Path
from openchargeback.storage import staging
from openchargeback.cli.app import main
moved = staging.Stage.publish
def held(self, conn, *args):
    print("publishing", file=sys.stderr, flush=True)
    release, deadline = Path(sys.argv[1]), time.monotonic() + 120
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return moved(self, conn, *args)
staging.Stage.publish = held
main(sys.argv[2:])
"""


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "openchargeback", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def waits_for_import(config: Path, path: Path, *command: str) -> tuple[subprocess.CompletedProcess, str]:
    """``command`` run while ``ingest PATH -s aws`` is publishing: the import holds on
    until the command's first line on stderr (it must be the waiting message) has come.
    Returns the command's outcome, and the import's stderr (it must have succeeded)."""
    release = config.with_name("release")
    imp = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOW_PUBLISH,
            str(release),
            "ingest",
            str(path),
            "-s",
            "aws",
            "-c",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert imp.stderr is not None
        line = imp.stderr.readline()
        assert line.strip() == "publishing", line + imp.stderr.read()
        cmd = subprocess.Popen(
            [sys.executable, "-m", "openchargeback", *command, "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert cmd.stderr is not None
        first = cmd.stderr.readline()  # blocks until the command says something
        release.touch()
        out, err = cmd.communicate(timeout=120)
        _, imp_err = imp.communicate(timeout=120)
    finally:
        release.touch()
        if imp.poll() is None:
            imp.kill()
    assert imp.returncode == 0, imp_err
    return subprocess.CompletedProcess(cmd.args, cmd.returncode, out, first + err), imp_err


def import_id(url: str, file_name: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT id FROM imports WHERE filename = :f"), {"f": file_name}
            ).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_review_approve_waits_for_a_publishing_import_and_says_so(db_url, write_config, tmp_path):
    config = write_config(db_url)
    assert cli(config, "ingest", str(INPUTS / "aws_2025-01.csv"), "-s", "aws").returncode == 0
    side = Path(db_url.removeprefix("sqlite:///") + "-writer")
    approve, _ = waits_for_import(
        config, INPUTS / "aws_2025-12.csv", "review", "approve", "-p", "2025-01", "--status", "all"
    )
    number = import_id(db_url, "aws_2025-12.csv")
    assert approve.returncode == 0, approve.stderr
    # said first (before the import could go on), and once
    assert approve.stderr.startswith(f"waiting for import #{number} (aws_2025-12.csv) to finish writing…\n")
    assert approve.stderr.count("waiting for") == 1 and "Traceback" not in approve.stderr
    assert "approved 25 charge(s) of 2025-01" in approve.stdout
    assert not side.exists()  # the announcement went with the import's transaction


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_dead_imports_announcement_is_not_told(db_url, write_config, make_ctx):
    """A killed import leaves its announcement behind: a writer waiting for someone else
    (here a write of this test, announced by nobody) waits without naming it."""
    config = write_config(db_url)
    assert cli(config, "ingest", str(INPUTS / "aws_2025-01.csv"), "-s", "aws").returncode == 0
    side = Path(db_url.removeprefix("sqlite:///") + "-writer")
    side.write_text(
        json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "what": "import #7 (x.csv)"})
    )
    ctx = make_ctx(db_url)
    holding = threading.Event()

    def hold() -> None:
        with ctx.write():
            holding.set()
            time.sleep(2.5)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(10)
    approve = cli(config, "review", "approve", "-p", "2025-01", "--status", "all")
    t.join()
    assert approve.returncode == 0, approve.stderr
    assert "waiting" not in approve.stderr and "approved 25" in approve.stdout


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_close_waits_for_an_import_holding_the_period_and_says_so(db_url, write_config):
    config = write_config(db_url)
    assert cli(config, "ingest", str(INPUTS / "hpc_2025-01.csv"), "-s", "hpc").returncode == 0
    assert cli(config, "review", "approve", "-p", "2025-01", "--status", "all").returncode == 0
    close, _ = waits_for_import(config, INPUTS / "aws_2025-01.csv", "periods", "close", "2025-01")
    number = import_id(db_url, "aws_2025-01.csv")
    assert close.stderr.startswith(f"waiting for import #{number} (aws_2025-01.csv) to finish writing…\n")
    assert close.stderr.count("waiting for") == 1 and "Traceback" not in close.stderr
    # closed once the import had committed (never an import inside a closed period)
    assert close.returncode == 0 and "open -> closed" in close.stdout, close.stderr
