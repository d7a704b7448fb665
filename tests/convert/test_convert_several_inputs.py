"""Several inputs of one conversion are one data set (issue 22): daily storage files,
overlapping weekly sacct exports (through `convert` and `ingest --convert`, in both
orders), files spanning several months, the same snapshot twice, sacct run in UTC,
cut files, byte-order marks, the process's umask, and the allowance ledger."""

from __future__ import annotations

import json
import os
from decimal import Decimal as D
from pathlib import Path

import pytest
from sacct_builders import HEADER, job

from openchargeback.domain.errors import FileRefused, InvalidInput
from openchargeback.services.convert.conversion import ConvertRequest, convert

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data"
LEDGER_RATES = SAMPLES / "rates" / "rates.example.yaml"
AMAP = SAMPLES / "attribution" / "attribution.example.yaml"
RATES_YAML = """\
name: plain
rates:
  - {service: hpc, resource: cpu, unit: core-hour, price: 0.01, from: 2025-01-01}
  - {service: storage, resource: storage, tier: standard, unit: tb-month, price: 8.00, from: 2025-01-01}
  - {service: instruments, resource: confocal, unit: hour, price: 45.00, from: 2025-01-01}
"""
TB = 10**12


@pytest.fixture(autouse=True)
def no_env_config(monkeypatch):
    monkeypatch.delenv("OPENCHARGEBACK_CONFIG", raising=False)


@pytest.fixture
def rates(tmp_path) -> Path:
    p = tmp_path / "plain.yaml"
    p.write_text(RATES_YAML)
    return p


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def run(kind, inputs, out, rates, **kw):
    return convert(ConvertRequest(kind, tuple(inputs), out, rates, **kw))


# -- Slurm: overlapping weekly exports -----------------------------------------------------------
A = job("101", "2026-01-02T00:00:00", "2026-01-03T00:00:00", "cpu=16")  # week 1 only: 384 core-hours
B = job("102", "2026-01-07T00:00:00", "2026-01-09T00:00:00", "cpu=16")  # in both weeks: 768
C_RUNNING = job("103", "2026-01-08T00:00:00", "Unknown", "cpu=16", state="RUNNING")
C_DONE = job("103", "2026-01-08T00:00:00", "2026-01-10T00:00:00", "cpu=16")  # 48 h: 768
D_ = job("104", "2026-01-20T00:00:00", "2026-01-21T00:00:00", "cpu=16", account="climate")  # 384


@pytest.fixture
def exports(tmp_path):
    month = write(tmp_path / "sacct_2026-01.txt", HEADER, A, B, C_DONE, D_)
    week1 = write(tmp_path / "sacct_w1.txt", HEADER, A, B, C_RUNNING)
    week2 = write(tmp_path / "sacct_w2.txt", HEADER, B, C_DONE, D_)
    return month, week1, week2


@pytest.mark.parametrize("order", ["w1-w2", "w2-w1"])
def test_overlapping_weekly_exports_bill_what_the_monthly_export_bills(exports, rates, tmp_path, order):
    month, w1, w2 = exports
    one = run("slurm", [month], tmp_path / "month.csv", rates, period="2026-01")
    weeks = [w1, w2] if order == "w1-w2" else [w2, w1]
    both = run("slurm", weeks, tmp_path / "weeks.csv", rates, period="2026-01")
    assert one.list_total == D("23.04")  # (384 + 768 + 768 + 384) core-hours x 0.01
    assert both.list_total == one.list_total and both.billed_total == one.billed_total
    assert (tmp_path / "weeks.csv").read_bytes() == (tmp_path / "month.csv").read_bytes()
    # B and C are in both weeks: two copies merged; C billed as finished (48 h), not running
    merged = [n for reason, n in both.report["skipped"].items() if reason.startswith("copy of an allocation")]
    assert merged == [2]
    assert both.report["records"] == 6 and both.report["used"] == 4


def test_among_finished_copies_the_later_end_wins_in_either_order(rates, tmp_path):
    early = job("7", "2026-01-05T00:00:00", "2026-01-05T01:00:00", "cpu=10", state="PREEMPTED")
    late = job("7", "2026-01-05T00:00:00", "2026-01-05T03:00:00", "cpu=10")
    f1 = write(tmp_path / "a.txt", HEADER, early)
    f2 = write(tmp_path / "b.txt", HEADER, late)
    for order in ([f1, f2], [f2, f1]):
        r = run("slurm", order, tmp_path / "x.csv", rates)
        assert r.list_total == D("0.30")  # 3 h x 10 CPUs x 0.01


def test_ingest_convert_of_overlapping_exports_bills_once(exports, rates, run_cli, tmp_path):
    month, w1, w2 = exports
    billed = {}
    for name, files in (("month", [month]), ("w1-w2", [w1, w2]), ("w2-w1", [w2, w1])):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(
            json.dumps({"database": {"url": f"sqlite:///{tmp_path}/{name}.db"}, "sources": [{"name": "hpc"}]})
        )
        code, out, err = run_cli(
            "ingest", *files, "-s", "hpc", "-p", "2026-01", "--convert", "slurm", "--rates", rates,
            "-c", cfg, "--json",
        )  # fmt: skip
        assert code == 0, err
        result = json.loads(out)
        assert isinstance(result, dict)  # the inputs were converted together: one import
        billed[name] = {t["column"]: t["stored_total"] for t in result["totals"]}["BilledCost"]
    assert billed == {"month": "23.04", "w1-w2": "23.04", "w2-w1": "23.04"}


def test_ingest_convert_keeps_one_ledger_run_and_a_corrected_input_replaces_it(
    exports, run_cli, write_config, sqlite_url, tmp_path
):
    month, w1, w2 = exports
    cfg = write_config(sqlite_url)
    code, out, err = run_cli(
        "ingest", w1, w2, "-s", "hpc", "-p", "2026-01", "--convert", "slurm", "--rates", LEDGER_RATES,
        "--attribution", AMAP, "-c", cfg, "--json",
    )  # fmt: skip
    assert code == 0, err
    weeks_billed = {t["column"]: t["stored_total"] for t in json.loads(out)["totals"]}["BilledCost"]
    code, out, err = run_cli(
        "convert", "slurm", month, "-p", "2026-01", "--rates", LEDGER_RATES, "-o", tmp_path / "m.csv",
        "--attribution", AMAP, "-c", cfg, "--json",
    )  # fmt: skip
    assert code == 0, err
    ledger = json.loads(out)["ledger"]
    # the month's 1000 free core-hours were given once: the weeks bill what the month bills
    assert weeks_billed == json.loads(out)["billed_total"]
    # the monthly export is the same data: a different input, so it replaces the weeks' run ...
    assert [e["status"] for e in ledger] == ["replaced"]
    code, out, _ = run_cli("rates", "show", LEDGER_RATES, "-p", "2026-01", "-c", cfg, "--json")
    consumed = {(t["subsidy"], t["project_id"]): D(t["quantity"]) for t in json.loads(out)["ledger"]}
    # ... and what the period consumed is one month's allowance, never the weeks' sum
    assert consumed == {("free-core-hours", "GEN-42"): D(1000), ("free-core-hours", "CLIM-7"): D(384)}


# -- Slurm: sacct run with a configured zone; cut and BOM files; messages -------------------------
def test_sacct_run_with_a_configured_zone_reads_utc(
    rates, run_cli, write_config, sqlite_url, tmp_path, monkeypatch
):
    # 31 January 22:00 to 1 February 02:00 UTC: two hours in January, read in UTC
    export = write(
        tmp_path / "utc.txt", HEADER, job("9", "2026-01-31T22:00:00", "2026-02-01T02:00:00", "cpu=100"), A
    )
    fake = tmp_path / "bin" / "sacct"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\n[ "$TZ" = UTC ] || exit 3\ncat {export}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    cfg = write_config(sqlite_url, convert={"slurm_timezone": "America/New_York"})
    code, out, err = run_cli(
        "convert", "slurm", "--sacct", "-p", "2026-01", "--rates", rates, "-o", tmp_path / "run.csv",
        "-c", cfg, "--json",
    )  # fmt: skip
    assert code == 0, err
    ran = json.loads(out)
    code, out, err = run_cli(
        "convert", "slurm", export, "-p", "2026-01", "--timezone", "UTC", "--rates", rates,
        "-o", tmp_path / "file.csv", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert ran["list_total"] == json.loads(out)["list_total"] == "5.84"  # (200 + 384) x 0.01
    assert (tmp_path / "run.csv").read_bytes() == (tmp_path / "file.csv").read_bytes()


def test_a_cut_last_record_is_a_problem(rates, tmp_path):
    # AllocTRES last, as in a --format that ends with it; the copy stopped at cpu=1 of cpu=16
    header = "JobID|State|Start|End|AllocTRES"
    a = "101|COMPLETED|2026-01-02T00:00:00|2026-01-03T00:00:00|cpu=16"
    b = "102|COMPLETED|2026-01-07T00:00:00|2026-01-09T00:00:00|cpu=1"
    cut = tmp_path / "cut.txt"
    cut.write_text(f"{header}\n{a}\n{b}")
    with pytest.raises(FileRefused) as e:
        run("slurm", [cut], tmp_path / "x.csv", rates)
    assert "cut.txt:3: the file ends inside this record (no line end after it)" in str(e.value)
    r = run("slurm", [cut], tmp_path / "x.csv", rates, skip_invalid=True)
    assert r.list_total == D("3.84") and r.report["records"] == 2 and len(r.report["problems"]) == 1


def test_byte_order_mark_and_messages_in_our_words(rates, tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes(("\ufeff" + HEADER + "\n" + A + "\n").encode("utf-8"))
    assert run("slurm", [bom], tmp_path / "x.csv", rates).list_total == D("3.84")
    bad = write(
        tmp_path / "bad.txt", HEADER, job("1", "2026-01-02T00:00:00", "2026-01-02T01:00:00", "cpu=12x")
    )
    with pytest.raises(FileRefused) as e:
        run("slurm", [bad], tmp_path / "x.csv", rates)
    text = str(e.value)
    assert "bad.txt:2: job 1: column AllocTRES: 'cpu=12x': expected a whole number" in text
    assert "invalid literal" not in text


def test_converted_files_honour_the_umask(rates, tmp_path):
    old = os.umask(0o022)
    try:
        run("slurm", [write(tmp_path / "a.txt", HEADER, A)], tmp_path / "x.csv", rates)
    finally:
        os.umask(old)
    assert (tmp_path / "x.csv").stat().st_mode & 0o777 == 0o644


# -- storage ---------------------------------------------------------------------------------------
STORAGE_HEADER = "date,path,owner,tier,bytes"


def test_daily_storage_files_are_one_set_of_snapshots(rates, tmp_path):
    days = [("2026-01-01", 1), ("2026-01-02", 3), ("2026-01-03", 5)]
    files = [
        write(tmp_path / f"quota_{d}.csv", STORAGE_HEADER, f"{d},/proj/x,x,standard,{n * TB}")
        for d, n in days
    ]
    one = write(
        tmp_path / "quota.csv", STORAGE_HEADER, *(f"{d},/proj/x,x,standard,{n * TB}" for d, n in days)
    )
    daily = run("storage", files, tmp_path / "daily.csv", rates)
    single = run("storage", [one], tmp_path / "one.csv", rates)
    assert single.rows == 1 and single.list_total == D("24.00")  # 3 TB-months x 8.00
    assert daily.rows == 1 and daily.list_total == D("24.00")
    assert (tmp_path / "daily.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_the_same_snapshot_twice_counts_once_and_a_conflict_names_both_files(rates, tmp_path):
    rows = [f"2026-01-0{d},/proj/x,x,standard,{TB}" for d in (1, 2)]
    once = write(tmp_path / "once.csv", STORAGE_HEADER, *rows)
    twice = write(tmp_path / "twice.csv", STORAGE_HEADER, *rows, rows[1])  # cron ran twice on the 2nd
    a = run("storage", [once], tmp_path / "a.csv", rates)
    b = run("storage", [twice], tmp_path / "b.csv", rates)
    assert a.list_total == b.list_total == D("8.00")
    assert b.report["records"] == 3 and b.report["used"] == 2 and sum(b.report["skipped"].values()) == 1
    other = write(tmp_path / "other.csv", STORAGE_HEADER, f"2026-01-02,/proj/x,x,standard,{2 * TB}")
    with pytest.raises(FileRefused) as e:
        run("storage", [once, other], tmp_path / "c.csv", rates)
    assert "other.csv:2: /proj/x (standard) on 2026-01-02: 2000000000000 bytes, but once.csv:3 gives" in str(
        e.value
    )


def test_storage_files_spanning_several_months_lose_nothing(rates, tmp_path):
    def snap(month: int, day: int, n: int) -> str:
        return f"2026-{month:02d}-{day:02d},/proj/x,x,standard,{n * TB}"

    first = [snap(1, 1, 1), snap(1, 2, 3), snap(2, 1, 2)]  # January and February
    second = [snap(1, 3, 5), snap(2, 2, 4), snap(3, 1, 7), snap(4, 1, 1)]  # January to April
    a = write(tmp_path / "a.csv", STORAGE_HEADER, *first)
    b = write(tmp_path / "b.csv", STORAGE_HEADER, *second)
    whole = write(tmp_path / "whole.csv", STORAGE_HEADER, *sorted(first + second))
    both = run("storage", [a, b], tmp_path / "ab.csv", rates)
    one = run("storage", [whole], tmp_path / "whole.focus.csv", rates)
    # January 3 TB, February 3 TB, March 7 TB, April 1 TB: 14 TB-months x 8.00
    assert one.list_total == both.list_total == D("112.00")
    assert both.periods == {"2026-01": 1, "2026-02": 1, "2026-03": 1, "2026-04": 1}
    assert both.report["records"] == both.report["used"] == 7
    assert (tmp_path / "ab.csv").read_bytes() == (tmp_path / "whole.focus.csv").read_bytes()


# -- priced generic CSV ----------------------------------------------------------------------------
def test_priced_csv_files_spanning_two_months_each_lose_nothing(rates, tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "period: {column: date}\n"
        "columns: {ResourceId: id}\n"
        "pricing: {service: instruments, resource: confocal, quantity: hours}\n"
    )
    header = "id,date,hours"
    rows = [f"S-{i},2026-{1 + i % 4:02d}-{1 + i % 28:02d},{1 + i % 3}" for i in range(100)]
    jan_feb = [r for r in rows if r.split(",")[1][5:7] in ("01", "02")]
    mar_apr = [r for r in rows if r.split(",")[1][5:7] in ("03", "04")]
    halves = [
        write(tmp_path / "h1.csv", header, *jan_feb[:25]),  # January and February each
        write(tmp_path / "h2.csv", header, *jan_feb[25:]),
    ]
    one = run(
        "csv",
        [write(tmp_path / "jf.csv", header, *jan_feb)],
        tmp_path / "jf.focus.csv",
        rates,
        mapping=mapping,
    )
    two = run("csv", halves, tmp_path / "h.focus.csv", rates, mapping=mapping)
    assert two.list_total == one.list_total and two.rows == one.rows == len(jan_feb)
    assert two.report["used"] == len(jan_feb)
    four = run(
        "csv",
        [write(tmp_path / "all.csv", header, *rows)],
        tmp_path / "all.focus.csv",
        rates,
        mapping=mapping,
    )
    pair = [write(tmp_path / "p1.csv", header, *jan_feb), write(tmp_path / "p2.csv", header, *mar_apr)]
    both = run("csv", pair, tmp_path / "p.focus.csv", rates, mapping=mapping)
    hours = sum(1 + i % 3 for i in range(100))
    assert four.list_total == both.list_total == D(hours) * 45 and both.rows == 100


def test_no_input_is_an_error(rates, tmp_path):
    with pytest.raises(InvalidInput, match="no input files"):
        run("storage", [], tmp_path / "x.csv", rates)
