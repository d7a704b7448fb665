"""The cron block of README.md ("The month, from cron": ingest twice, generate --send,
export-journal -f gl) runs as written: both imports complete, and it produces a
balanced journal that equals the statements.

The block runs in bash, in a fresh folder holding config.example.yaml as
/etc/openchargeback/config.yaml and this month's AWS and Azure files (the January
sample files moved to the current month) as /data/...; only those absolute paths point
into the test folder. Between the imports and the statements, the people's step the
README leaves to the web UI (reviewing flagged charges, closing the month) is done with
the CLI.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from readme_blocks import CRON, ROOT, block, cli_env

from .conftest import gl_sums, read_gl

pytestmark = pytest.mark.slow  # end-to-end: one process per command


def _this_month(src: Path, dst: Path, period: str) -> None:
    """The sample file with its dates moved to ``period``."""
    year, month = map(int, period.split("-"))
    start = f"{period}-01"
    end = f"{year + month // 12:04d}-{month % 12 + 1:02d}-01"
    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for col in ("BillingPeriodStart", "ChargePeriodStart"):
            r[col] = start
        for col in ("BillingPeriodEnd", "ChargePeriodEnd"):
            r[col] = end
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _run(line: str, prefix: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", "-c", "\n".join([*prefix, line])],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == 0, f"{line}\n{out}"
    return proc


def test_cron_block_imports_and_gives_a_balanced_journal(tmp_path):
    env = cli_env()
    (tmp_path / "data").mkdir()
    (tmp_path / "etc").mkdir()
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "etc" / "config.yaml")
    period = subprocess.run(["date", "+%Y-%m"], capture_output=True, text=True).stdout.strip()
    for source in ("aws", "azure"):
        _this_month(
            ROOT / "sample_data" / "inputs" / f"{source}_2025-01.csv",
            tmp_path / "data" / f"{source}_{period}.csv",
            period,
        )

    lines = [
        ln.replace("/data/", f"{tmp_path}/data/").replace("/etc/openchargeback/", f"{tmp_path}/etc/")
        for ln in block(CRON)
    ]
    prefix = [ln for ln in lines if re.match(r"^[A-Z_]+=", ln)]
    commands = [ln for ln in lines if ln not in prefix]
    assert [c.split()[1] for c in commands] == ["ingest", "ingest", "generate", "export-journal"]
    for line in commands[:2]:
        _run(line, prefix, tmp_path, env)
    config = f"{tmp_path}/etc/config.yaml"
    imports = json.loads(_run(f"openchargeback imports list -c {config} --json", [], tmp_path, env).stdout)
    assert sorted((i["source"], i["status"]) for i in imports) == [("aws", "complete"), ("azure", "complete")]
    # the people's step: review the flagged charges and close the month
    _run("openchargeback review approve -p $PERIOD -c $CONFIG --note 'reviewed'", prefix, tmp_path, env)
    _run("openchargeback periods close $PERIOD -c $CONFIG", prefix, tmp_path, env)
    for line in commands[2:]:
        _run(line, prefix, tmp_path, env)

    exports = json.loads(
        _run(f"openchargeback journals list -p {period} -c {config} --json", [], tmp_path, env).stdout
    )
    assert [(e["format"], e["draft"], e["balanced"]) for e in exports] == [("gl", False, True)]
    written = tmp_path / "instance" / "journals" / period / exports[0]["file_name"]
    draft, rows = read_gl(written.read_bytes())
    debit, credit = gl_sums(rows)
    assert draft is None and rows and debit == credit > 0
    assert all(d == c for d, c in gl_sums(rows, by="Reference").values())  # each source balances
    statements = json.loads(
        _run(f"openchargeback statements list -p {period} -c {config} --json", [], tmp_path, env).stdout
    )
    due = sum((Decimal(s["due"]) for s in statements if s.get("kind", "project") == "project"), Decimal(0))
    assert due == debit
