"""The statement commands end to end: generate (dry run, real, --send in dev mode,
--json), statements list, show (files), messages; errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

from pypdf import PdfReader

from conftest import INPUTS

from .conftest import SOURCES, statement_settings


def _setup(run_cli, write_config, url, tmp_path):
    config = write_config(url, dev_mode=True, **statement_settings(tmp_path))
    for s in SOURCES:
        code, _, err = run_cli("ingest", INPUTS / f"{s}_2025-01.csv", "-s", s, "-p", "2025-01", "-c", config)
        assert code == 0, err
    return config


def test_generate_and_statement_commands(db_url, run_cli, write_config, tmp_path):
    config = _setup(run_cli, write_config, db_url, tmp_path)
    code, out, err = run_cli("generate", "-p", "2025-01", "-c", config, "--project", "climate-modeling")
    assert code == 1 and "error: period 2025-01 is open" in err and "Traceback" not in err

    code, out, err = run_cli(
        "generate", "-p", "2025-01", "-c", config, "--dry-run", "--project", "climate-modeling"
    )
    assert code == 0, err
    assert "DRY RUN" in out and "excluded pending review: 0 charge(s)" in out and "previews:" in out
    assert not (tmp_path / "out").exists()

    code, out, err = run_cli("periods", "close", "2025-01", "-c", config)
    assert code == 0, err
    code, out, err = run_cli(
        "generate", "-p", "2025-01", "-c", config, "--project", "climate-modeling", "--send", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    (s,) = report["statements"]
    assert s["action"] == "new" and s["due"] == "12.50" and s["list"] == "2530.00"
    assert report["excluded"]["rejected"] == {"count": 0, "amounts": {}}
    assert report["delivery"]["sent"] == 1 and report["delivery"]["transport"] == "outbox"
    number = s["number"]

    code, out, err = run_cli(
        "generate", "-p", "2025-01", "-c", config, "--project", "climate-modeling", "--send"
    )
    assert code == 0 and "1 unchanged" in out and "0 sent" in out and "already sent" in out

    code, out, err = run_cli("statements", "list", "-p", "2025-01", "-c", config, "--json")
    assert code == 0 and [x["number"] for x in json.loads(out)] == [number]
    assert json.loads(out)[0]["sent_at"] is not None
    code, out, err = run_cli("statements", "list", "-p", "2025-01", "-c", config)
    assert code == 0 and number in out and "12.50" in out

    pdf, csv, html = tmp_path / "s.pdf", tmp_path / "s.csv", tmp_path / "s.html"
    code, out, err = run_cli(
        "statements", "show", number, "--pdf", pdf, "--csv", csv, "--html", html, "-c", config
    )
    assert code == 0, err
    assert "HPC Cluster" in out and "due 12.50 USD" in out and "v1 current" in out
    assert number in PdfReader(str(pdf)).pages[0].extract_text()
    assert csv.read_text(encoding="utf-8-sig").startswith("statement,fund_org,source,service")
    assert "<html" in html.read_text()
    code, out, err = run_cli("statements", "show", number, "--version", "1", "-c", config, "--json")
    assert code == 0 and json.loads(out)["content"]["totals"]["due"] == "12.50"
    code, out, err = run_cli("statements", "show", "NOPE-1", "-c", config)
    assert code == 1 and "statement NOPE-1 does not exist" in err

    code, out, err = run_cli("statements", "messages", "-p", "2025-01", "-c", config, "--json")
    assert code == 0
    (m,) = json.loads(out)
    assert m["status"] == "sent" and m["statements"] == [f"{number} v1"] and Path(m["outbox_path"]).exists()
    code, out, err = run_cli("statements", "resend", "-c", config)
    assert code == 1 and "nothing to resend" in err
    code, out, err = run_cli("generate", "-p", "2025-01", "-c", config, "--dry-run", "--send")
    assert code == 1 and "cannot be combined" in err
