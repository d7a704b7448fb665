"""The cron block of README.md ("The month, from cron": ingest twice, generate --send,
export-journal -f gl) runs as written, unattended.

The block runs verbatim in one bash process, in a fresh folder holding
config.example.yaml as /etc/openchargeback/config.yaml and this month's AWS and Azure
files (the January sample files moved to the current month) as /data/...; only those
absolute paths point into the test folder. With the example configuration
(``periods.close_when_clear: true``):

- when no charge waits for review, ``generate`` closes the month (recorded as closed by
  that command, with who), the statements land in the outbox and the gl journal
  balances and equals the statements;
- when a charge waits, the block stops at ``generate`` with exit 1 and one message
  (count, amount, the review queue's address under ``server.public_url``); once the
  charge is approved, running the block again completes the month.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from readme_blocks import CRON, ROOT, block, cli_env, script

from .conftest import gl_sums, read_gl

pytestmark = pytest.mark.slow  # end-to-end: one process per command

PUBLIC_URL = "https://billing.example.edu"


def _this_month(src: Path, dst: Path, period: str, *, flag_row: int | None = None) -> None:
    """The sample file with its dates moved to ``period``; ``flag_row`` (0-based) gets
    a GPU service name, which the example review rules flag."""
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
    if flag_row is not None:
        rows[flag_row]["ServiceName"] = "GPU Virtual Machines"
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _bash(text: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", "-c", text], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def _cli(args: str, cwd: Path, env: dict) -> str:
    proc = _bash(f"openchargeback {args}", cwd, env)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


class Site:
    """A fresh folder with the example configuration, this month's files and the cron
    block with /data and /etc/openchargeback pointing into it."""

    def __init__(self, root: Path, *, flag_azure_row: int | None = None, public_url: bool = False):
        self.root = root
        self.env = cli_env()
        (root / "data").mkdir()
        (root / "etc").mkdir()
        self.config = root / "etc" / "config.yaml"
        shutil.copy(ROOT / "config.example.yaml", self.config)
        if public_url:
            text = self.config.read_text()
            commented = "  # public_url: https://billing.example.edu"
            assert commented in text, "config.example.yaml shows server.public_url commented out"
            self.config.write_text(text.replace(commented, f"  public_url: {PUBLIC_URL}"))
        self.period = subprocess.run(["date", "+%Y-%m"], capture_output=True, text=True).stdout.strip()
        for source in ("aws", "azure"):
            _this_month(
                ROOT / "sample_data" / "inputs" / f"{source}_2025-01.csv",
                root / "data" / f"{source}_{self.period}.csv",
                self.period,
                flag_row=flag_azure_row if source == "azure" else None,
            )
        self.block = (
            script(CRON).replace("/data/", f"{root}/data/").replace("/etc/openchargeback/", f"{root}/etc/")
        )

    def run_block(self) -> subprocess.CompletedProcess:
        return _bash(self.block, self.root, self.env)

    def cli_json(self, args: str):
        return json.loads(_cli(f"{args} -c {self.config} --json", self.root, self.env))

    def assert_month_done(self) -> None:
        """Statements in the outbox, one balanced gl journal equal to the statements, and
        the month closed by ``generate``."""
        exports = self.cli_json(f"journals list -p {self.period}")
        assert [(e["format"], e["draft"], e["balanced"]) for e in exports] == [("gl", False, True)]
        written = self.root / "instance" / "journals" / self.period / exports[0]["file_name"]
        draft, rows = read_gl(written.read_bytes())
        debit, credit = gl_sums(rows)
        assert draft is None and rows and debit == credit > 0
        assert all(d == c for d, c in gl_sums(rows, by="Reference").values())  # each source balances
        statements = self.cli_json(f"statements list -p {self.period}")
        project = [s for s in statements if s.get("kind", "project") == "project"]
        assert project and sum((Decimal(s["due"]) for s in project), Decimal(0)) == debit
        outbox = sorted((self.root / "instance" / "outbox").rglob("*.eml"))
        assert outbox, "no message in the outbox"
        info = self.cli_json(f"periods show {self.period}")
        assert info["status"] == "closed"
        closing = [t for t in info["history"] if t["to"] == "closed"]
        assert len(closing) == 1
        assert "openchargeback generate" in closing[0]["reason"]
        assert closing[0]["actor"].startswith("cli:")


def test_cron_block_runs_the_month_when_nothing_waits_for_review(tmp_path):
    site = Site(tmp_path)
    assert [c.split()[1] for c in block(CRON) if c.startswith("openchargeback")] == [
        "ingest",
        "ingest",
        "generate",
        "export-journal",
    ]
    proc = site.run_block()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "closed: no charge pending review" in proc.stdout
    imports = site.cli_json("imports list")
    assert sorted((i["source"], i["status"]) for i in imports) == [("aws", "complete"), ("azure", "complete")]
    site.assert_month_done()


def test_cron_block_stops_at_generate_while_a_charge_waits_then_completes(tmp_path):
    site = Site(tmp_path, flag_azure_row=1, public_url=True)
    proc = site.run_block()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1, proc.stderr  # one message, from generate; export-journal never ran
    message = errors[0]
    assert message.startswith(
        f"error: period {site.period} is open and 1 charge(s) wait for review (272.00 billed)"
    )
    assert f"{PUBLIC_URL}/review?period={site.period}" in message
    assert f"-c {site.config}" in message  # the hint repeats the configuration given
    assert "export" not in proc.stdout
    info = site.cli_json(f"periods show {site.period}")
    assert info["status"] == "open"
    assert site.cli_json(f"statements list -p {site.period}") == []
    assert site.cli_json(f"journals list -p {site.period}") == []

    # the operator approves the charge (the web UI, or as here the CLI) and runs the job again
    pending = site.cli_json(f"review list -p {site.period}")
    assert len(pending["charges"]) == 1
    _cli(
        f"review approve {pending['charges'][0]['id']} -p {site.period} -c {site.config} --note 'GPU use'",
        site.root,
        site.env,
    )
    proc = site.run_block()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "already imported" in proc.stdout
    site.assert_month_done()
