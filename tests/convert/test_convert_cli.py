"""The commands: convert slurm|storage|csv, ingest --convert, rates show|check, validate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data"
RATES = SAMPLES / "rates" / "rates.example.yaml"
AMAP = SAMPLES / "attribution" / "attribution.example.yaml"
SACCT = ROOT / "tests" / "fixtures" / "sacct" / "all_steps.txt"


@pytest.fixture(autouse=True)
def no_env_config(monkeypatch):
    monkeypatch.delenv("OPENCHARGEBACK_CONFIG", raising=False)


def test_convert_slurm_records_the_ledger_and_imports(run_cli, write_config, sqlite_url, tmp_path):
    cfg = write_config(sqlite_url, convert={"fiscal_year_start_month": 7})
    out = tmp_path / "hpc.csv"
    code, stdout, err = run_cli(
        "convert", "slurm", SACCT, "--rates", RATES, "--attribution", AMAP, "-o", out, "-c", cfg
    )
    assert code == 0, err
    assert "all_steps.txt: 34 record(s) read, 10 used" in stdout
    assert "skipped 23: job step (billed through its allocation)" in stdout
    assert "unmapped account physics: 3 row(s)" in stdout
    assert "ledger 2026-11 (FY2027): recorded run #1" in stdout
    code, stdout, _ = run_cli(
        "convert", "slurm", SACCT, "--rates", RATES, "--attribution", AMAP, "-o", out, "-c", cfg, "--json"
    )
    data = json.loads(stdout)
    assert data["ledger"][0]["status"] == "unchanged" and data["rows"] == 12
    code, stdout, err = run_cli("ingest", out, "-s", "hpc", "-c", cfg)
    assert code == 0 and "imported 12 rows" in stdout and "3 row(s) flagged" in stdout


def test_a_ledger_rate_table_without_config_is_one_error_line(run_cli, tmp_path):
    code, out, err = run_cli("convert", "slurm", SACCT, "--rates", RATES, "-o", tmp_path / "x.csv")
    assert code == 1 and out == ""
    assert err.startswith("error: rate table 'rc-rates' has free allowances") and "Traceback" not in err
    code, _, err = run_cli("convert", "slurm", SACCT, "-o", tmp_path / "x.csv")
    assert code == 1 and "slurm conversion needs a rate table: pass --rates FILE" in err


def test_convert_per_job_and_states(run_cli, write_config, sqlite_url, tmp_path):
    cfg = write_config(sqlite_url)
    out = tmp_path / "jobs.csv"
    code, stdout, err = run_cli(
        "convert",
        "slurm",
        SACCT,
        "--rates",
        RATES,
        "-o",
        out,
        "-c",
        cfg,
        "--per-job",
        "--states",
        "COMPLETED",
        "--json",
    )
    assert code == 0, err
    data = json.loads(stdout)
    assert data["report"]["skipped"]["state FAILED not billable"] == 1
    ids = {row["ResourceId"] for row in csv.DictReader(out.open())}
    assert ids == {"1", "2", "3", "4", "5_1", "5_2", "5_3"}


def test_convert_storage_and_csv_without_a_database(run_cli, tmp_path):
    tight = tmp_path / "rates.yaml"  # the example without its allowances: no ledger needed
    text = RATES.read_text().split("subsidies:")[0]
    tight.write_text(text)
    code, out, err = run_cli(
        "convert",
        "storage",
        SAMPLES / "convert" / "storage_2026-01.json",
        "--rates",
        tight,
        "--attribution",
        AMAP,
        "-p",
        "2026-01",
        "-o",
        tmp_path / "s.csv",
    )
    assert code == 0, err
    assert "3 FOCUS row(s) in 2026-01" in out and "billed 230.50 USD" in out
    code, out, err = run_cli(
        "convert",
        "csv",
        SAMPLES / "convert" / "instrument_sessions.csv",
        "--mapping",
        SAMPLES / "convert" / "instrument_sessions.mapping.yaml",
        "--attribution",
        AMAP,
        "-o",
        tmp_path / "c.csv",
    )
    assert code == 0, err
    assert "list 916.25 USD, subsidies 170.25 USD, billed 746.00 USD" in out
    code, out, err = run_cli(
        "convert", "csv", SAMPLES / "convert" / "instrument_sessions.csv", "-o", tmp_path / "c.csv"
    )
    assert code == 2  # --mapping is required: a usage error


def test_ingest_convert(run_cli, write_config, sqlite_url):
    cfg = write_config(sqlite_url)
    code, out, err = run_cli(
        "ingest",
        SAMPLES / "convert" / "storage_2026-01.csv",
        "--convert",
        "storage",
        "-s",
        "storage",
        "--rates",
        RATES,
        "--attribution",
        AMAP,
        "-c",
        cfg,
    )
    assert code == 0, err
    assert "storage_2026-01.focus.csv: imported 4 rows from source storage" in out
    assert "1 row(s) flagged" in out
    code, out, err = run_cli(
        "ingest",
        SAMPLES / "convert" / "storage_2026-01.csv",
        "--convert",
        "storage",
        "-s",
        "storage",
        "--rates",
        RATES,
        "--attribution",
        AMAP,
        "-c",
        cfg,
    )
    assert code == 0 and "already imported as import #1" in out  # same input, same file, same ledger
    code, out, err = run_cli(
        "ingest", SAMPLES / "convert" / "storage_2026-01.csv", "--convert", "tape", "-s", "storage", "-c", cfg
    )
    assert code == 1 and "unknown converter 'tape'" in err


def test_rates_show_and_check(run_cli, tmp_path):
    code, out, err = run_cli("rates", "show", RATES, "--date", "2026-08-01")
    assert code == 0, err
    assert "rate table rc-rates (USD) in force on 2026-08-01; FY2026" in out
    assert "0.012     0.032     2026-07-01" in out and "0.010" not in out
    code, out, _ = run_cli("rates", "show", RATES, "-p", "2026-01", "--json")
    data = json.loads(out)
    assert {s["name"] for s in data["subsidies"]} == {
        "free-core-hours",
        "free-storage",
        "gpu-half",
        "climate-startup",
    }
    assert data["ledger"] is None
    code, out, _ = run_cli("rates", "check", RATES)
    assert code == 0 and "13 rate(s), 4 subsidy(ies); 0 error(s), 0 warning(s)" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nrates:\n"
        "  - {service: hpc, resource: cpu, unit: core-hour, price: 1, from: 2025-01-01}\n"
        "  - {service: hpc, resource: cpu, unit: core-hour, price: 2, from: 2025-06-01}\n"
    )
    code, out, _ = run_cli("rates", "check", bad)
    assert code == 1 and "error: rate #2 (hpc/cpu, from 2025-06-01): overlaps rate #1" in out
    code, out, _ = run_cli("rates", "check", bad, "--json")
    assert code == 1 and json.loads(out)["errors"] == 1
    code, _, err = run_cli("rates", "show", RATES, "--date", "someday")
    assert code == 1 and "--date 'someday' is not a date" in err


def test_validate_good_bad_and_strict(run_cli, tmp_path, monkeypatch):
    good = SAMPLES / "inputs" / "hpc_2025-01.csv"
    code, out, err = run_cli("validate", good)
    assert code == 0, err
    assert "FOCUS 1.0" in out and "the importer would accept this file" in out
    assert "2025-01 (" in out and "totals: BilledCost" in out
    code, out, _ = run_cli("validate", good, "-p", "2025-02", "--json")
    data = json.loads(out)
    assert data["would_import"] and data["flags"]["period_mismatch"] == data["rows"]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "BillingPeriodStart,BillingPeriodEnd,BilledCost\n2025-01-01,2025-02-01,1.5\n"
        "2025-01-01,2025-02-01,abc\n"
    )
    code, out, _ = run_cli("validate", bad)
    assert code == 1 and "bad.csv:3: column BilledCost: 'abc'" in out
    code, out, _ = run_cli("validate", good, "--strict")
    assert "strict: focus-validator is not installed" in out
    fake = tmp_path / "bin" / "focus-validator"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho 'Check FOCUS-101: PASS'\necho 'Check FOCUS-202: FAIL ListCost'\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    code, out, _ = run_cli("validate", good, "--strict")
    assert code == 0 and "focus-validator reports 1 failing check(s)" in out
    assert "Check FOCUS-202: FAIL ListCost" in out


def test_convert_slurm_runs_sacct_for_the_period(run_cli, write_config, sqlite_url, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "sacct"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ncat {SACCT}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    cfg = write_config(sqlite_url)
    code, out, err = run_cli(
        "convert", "slurm", "--sacct", "-p", "2026-11", "--rates", RATES, "-o", tmp_path / "x.csv", "-c", cfg
    )
    assert code == 0, err
    assert "sacct_2026-11.txt: 34 record(s) read" in out
    code, out, err = run_cli(
        "convert", "slurm", "--sacct", "--rates", RATES, "-o", tmp_path / "x.csv", "-c", cfg
    )
    assert code == 1 and "running sacct needs the period" in err
