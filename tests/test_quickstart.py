"""The Quick Start and CLI Automation blocks of PRODUCT.md run as written.

Each command line of the two blocks runs in bash, in a fresh folder holding a copy of
the repository's config.example.yaml and sample_data/. Only what cannot run in a test
is adapted: the install lines (the suite runs from the installed package), and in the
cron block the absolute /data and /etc paths, which point into the test folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ROOT.parent / "shared" / "PRODUCT.md"
NOT_YET = "not available yet"


def _block(heading: str) -> list[str]:
    text = PRODUCT.read_text()
    section = text.split(f"## {heading}", 1)[1]
    code = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [ln.strip() for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env.pop("OPENCHARGEBACK_CONFIG", None)
    return env


def _run(line: str, prefix: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    if line.startswith("openchargeback serve"):
        line = f"timeout 8 {line}"  # a server runs until stopped
    return subprocess.run(["bash", "-c", f"{prefix}\n{line}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _check(line: str, proc: subprocess.CompletedProcess) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    if line.startswith(("openchargeback generate", "openchargeback export-journal")):
        # The cron block runs them right after importing, into a period that is neither
        # closed (reviewed) nor the files' own: they stop with one message and exit code 1.
        assert proc.returncode == 0 or (proc.returncode == 1 and (
            NOT_YET in out or out.startswith("error: period "))), out
    elif "openchargeback serve" in line:
        # still serving when stopped (124), or not available in this version
        assert proc.returncode == 124 or NOT_YET in out, out
    else:
        assert proc.returncode == 0, f"{line}\n{out}"


def _workdir(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "config.example.yaml")
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    return tmp_path


def test_quick_start_block(tmp_path):
    cwd = _workdir(tmp_path)
    env = _env(tmp_path)
    ran = []
    for line in _block("Quick Start"):
        if line.startswith(("python -m venv", "pip install")):
            continue  # installing: the suite runs from the installed package
        proc = _run(line, "", cwd, env)
        _check(line, proc)
        ran.append(line)
    assert any(ln.startswith("openchargeback ingest") for ln in ran)
    out = subprocess.run(["openchargeback", "report", "totals", "-p", "2025-01", "-c", "config.yaml",
                          "--json"], cwd=cwd, env=env, capture_output=True, text=True)
    assert '"billed_cost": "19086.75"' in out.stdout  # aws 19,086.75 + hpc 0.00 (subsidised)


def test_cli_automation_block(tmp_path):
    cwd = _workdir(tmp_path)
    env = _env(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(ROOT / "config.example.yaml", etc / "config.yaml")
    period = subprocess.run(["date", "+%Y-%m"], capture_output=True, text=True).stdout.strip()
    for source in ("aws", "azure"):
        shutil.copy(ROOT / "sample_data" / "inputs" / f"{source}_2025-01.csv",
                    data / f"{source}_{period}.csv")
    prefix: list[str] = []
    for line in _block("CLI Automation"):
        line = line.replace("/data/", f"{data}/").replace("/etc/openchargeback/", f"{etc}/")
        if re.match(r"^[A-Z_]+=", line):
            prefix.append(line)
            continue
        proc = _run(line, "\n".join(prefix), cwd, env)
        _check(line, proc)
    out = subprocess.run(["openchargeback", "imports", "list", "-c", str(etc / "config.yaml"), "--json"],
                         cwd=cwd, env=env, capture_output=True, text=True)
    assert out.stdout.count('"status": "complete"') == 2
