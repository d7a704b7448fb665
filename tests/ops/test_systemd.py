"""The systemd units of deploy/systemd/ pass ``systemd-analyze verify`` with nothing to
say (an unknown key or a bad value is only a warning there, so any output fails)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"  # Makefile: system-packages


def verify(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The units of ``folder`` copied with the site's /usr/local/bin/ commands replaced by
    stubs (verify checks that every ExecStart exists and is executable), then verified."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    out = tmp_path / "units"
    out.mkdir(exist_ok=True)
    for unit in sorted(folder.iterdir()):
        text = unit.read_text()
        for line in text.splitlines():
            if line.startswith("ExecStart=/usr/local/bin/"):
                stub = bin_dir / line.split()[0].rsplit("/", 1)[1]
                stub.write_text("#!/bin/sh\nexit 0\n")
                stub.chmod(0o755)
        (out / unit.name).write_text(text.replace("/usr/local/bin/", f"{bin_dir}/"))
    return subprocess.run(
        [ANALYZE, "verify", "--man=no", *sorted(str(p) for p in out.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_units_verify_clean(tmp_path):
    names = sorted(p.name for p in UNITS.iterdir())
    assert names == [
        "openchargeback-month.service",
        "openchargeback-month.timer",
        "openchargeback-worker.service",
        "openchargeback.service",
    ]
    r = verify(UNITS, tmp_path)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (("Type=exec", "Type=exce"), "Failed to parse service type"),
        (("Restart=on-failure", "Restart=on-failure\nRestartSecs=5"), "Unknown key"),
    ],
)
def test_a_broken_unit_is_caught(tmp_path, edit, said):
    broken = tmp_path / "broken"
    broken.mkdir()
    text = (UNITS / "openchargeback.service").read_text()
    assert edit[0] in text
    (broken / "openchargeback.service").write_text(text.replace(edit[0], edit[1]))
    r = verify(broken, tmp_path)
    assert said in r.stdout + r.stderr
