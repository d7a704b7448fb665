"""The worked curl examples of docs/user-guide/api.md, run with bash against a live
server (a reviewer's, an admin's and a PI's write token)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "user-guide" / "api.md"


def blocks() -> list[str]:
    return [b for b in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S) if "curl" in b]


def test_the_docs_have_examples():
    assert len(blocks()) >= 6


@pytest.mark.slow
def test_every_curl_example_runs(tmp_path):
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.fail("curl and jq are needed (Makefile system-packages)")
    from openchargeback.services import tokens
    from portal.conftest import build_site
    from web.conftest import live_server

    site = build_site(tmp_path)
    with live_server(site) as (base, app):
        env = dict(
            os.environ,
            OCB_URL=base,
            OCB_TOKEN=tokens.create(app.state.ctx, "reviewer", "write").secret,
            OCB_ADMIN_TOKEN=tokens.create(app.state.ctx, "admin", "write").secret,
            OCB_PI_TOKEN=tokens.create(app.state.ctx, "ada", "write").secret,
        )
        work = tmp_path / "work"
        (work / "sample_data").mkdir(parents=True)
        (work / "sample_data" / "inputs").symlink_to(ROOT / "sample_data" / "inputs")
        outputs = []
        for block in blocks():
            r = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", block],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert r.returncode == 0, (block, r.stdout, r.stderr)
            outputs.append(r.stdout)
    text = "\n".join(outputs)
    assert '"period": "2025-02"' in text or "2025-02" in text
    assert "import job" in text and ": done" in text
    assert "401 application/problem+json" in text
    assert list(work.glob("RC-*-v1.pdf"))
    assert "ada@example.edu" in text
