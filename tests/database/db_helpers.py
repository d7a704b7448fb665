"""Helpers of the database tests: the CLI in its own process, a SQLite database with
sample imports, and the figures two databases must share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "sample_data" / "inputs"
SOURCES = [
    {"name": "aws", "display_name": "Amazon Web Services", "file_pattern": "aws_*.csv"},
    {"name": "azure", "display_name": "Microsoft Azure", "file_pattern": "azure_*.csv"},
    {"name": "hpc", "display_name": "HPC Cluster", "cost_basis": "billed"},
    {"name": "storage", "display_name": "Research Storage"},
]
# The CLI with a shorter SQLite busy timeout (the locked-database test waits it out).
_MAIN = (
    "import os, sys\n"
    "import openchargeback.storage.db as db\n"
    "if os.environ.get('OCB_TEST_BUSY_MS'): db.BUSY_TIMEOUT_MS = int(os.environ['OCB_TEST_BUSY_MS'])\n"
    "from openchargeback.cli.app import main\n"
    "main(sys.argv[1:])\n"
)


def write_config(folder: Path, url: str, **extra) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": url}, "sources": SOURCES, **extra}))
    return path


def cli(*args, busy_ms: int | None = None, preexec=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``openchargeback ARGS`` in its own process: (returncode, stdout, stderr)."""
    env = dict(os.environ)
    if busy_ms is not None:
        env["OCB_TEST_BUSY_MS"] = str(busy_ms)
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *[str(a) for a in args]],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=preexec,
        timeout=timeout,
    )


def assert_one_message(done: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 1, no traceback, one `error:` line naming each of ``words``."""
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out, out
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, out
    for word in words:
        assert word in errors[0], out
    return errors[0]


def figures(url: str) -> dict[str, str]:
    """Rows of every table, charge sums, statement totals, digests of the documents."""
    from openchargeback.storage import db, maintenance

    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return maintenance.ledger_figures(conn)
    finally:
        engine.dispose()
