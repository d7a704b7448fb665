"""Issue 13: a writer that must wait for an import writing its rows says so, once, and
succeeds when the import has finished (SQLite: the write lock; PostgreSQL: the period's
row, share-locked by the import, that a close waits for).

The import is a real ``openchargeback ingest`` process whose publish is slowed by a
few seconds (the staged rows' move into the ledger sleeps first)."""

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
from openchargeback.storage import staging
from openchargeback.cli.app import main
moved = staging.Stage.publish
def slow(self, conn, *args):
    print("publishing", file=sys.stderr, flush=True)
    time.sleep(float(sys.argv[1]))
    return moved(self, conn, *args)
staging.Stage.publish = slow
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


def slow_import(config: Path, path: Path, seconds: float) -> subprocess.Popen:
    """``ingest PATH -s aws``, its publish slowed; returns once it is publishing."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOW_PUBLISH,
            str(seconds),
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
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.strip() == "publishing", line + proc.stderr.read()
    time.sleep(0.3)  # inside its write transaction (it announced itself before staging's move)
    return proc


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
    proc = slow_import(config, INPUTS / "aws_2025-12.csv", 4)
    side = Path(db_url.removeprefix("sqlite:///") + "-writer")
    assert side.exists()  # the lock holder's announcement
    t0 = time.monotonic()
    approve = cli(config, "review", "approve", "-p", "2025-01", "--status", "all")
    waited = time.monotonic() - t0
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    number = import_id(db_url, "aws_2025-12.csv")
    assert approve.returncode == 0, approve.stderr
    assert approve.stderr.count(f"waiting for import #{number} (aws_2025-12.csv) to finish writing…") == 1
    assert "Traceback" not in approve.stderr
    assert "approved 25 charge(s) of 2025-01" in approve.stdout
    assert waited > 2  # it did wait for the publish
    assert not side.exists()  # gone with the import's transaction


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
    proc = slow_import(config, INPUTS / "aws_2025-01.csv", 4)
    close = cli(config, "periods", "close", "2025-01")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    number = import_id(db_url, "aws_2025-01.csv")
    assert close.stderr.count(f"waiting for import #{number} (aws_2025-01.csv) to finish writing…") == 1
    assert "Traceback" not in close.stderr
    # closed once the import had committed (never an import inside a closed period)
    assert close.returncode == 0 and "open -> closed" in close.stdout, close.stderr
