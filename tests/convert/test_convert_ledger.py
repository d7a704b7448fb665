"""The allowance ledger (SQLite and PostgreSQL): the same conversion never consumes an
allowance twice; fiscal-year caps see earlier periods; a new input supersedes."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml
from sacct_builders import job, sacct

from openchargeback.domain.errors import ConfigError
from openchargeback.services.convert.conversion import ConvertRequest, convert
from openchargeback.services.convert.rates import rates_in_force
from openchargeback.services.ingest.loading import ingest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data"

RATES = {
    "name": "ledger-test",
    "classes": ["internal"],
    "rates": [
        {"service": "hpc", "resource": "cpu", "unit": "core-hour", "price": "0.10", "from": "2025-01-01"}
    ],
    "subsidies": [
        {"name": "free", "allowance": "100", "unit": "core-hour"},
        {"name": "half", "percent": "50", "fiscal_year_cap": "10.00"},
    ],
}
AMAP = {"accounts": {"genomics": {"pi_email": "ada@example.edu", "project_id": "GEN", "fund_org": "F-1"}}}


@pytest.fixture
def files(tmp_path):
    (tmp_path / "rates.yaml").write_text(yaml.safe_dump(RATES))
    (tmp_path / "amap.yaml").write_text(yaml.safe_dump(AMAP))
    return tmp_path


def write_sacct(path: Path, *rows) -> Path:
    path.write_text("".join(sacct(*rows)))
    return path


def hours(jobid, day, n, month="2025-07"):
    """A 1-CPU job of n hours starting on the given day of the month."""
    return job(jobid, f"{month}-{day:02d}T00:00:00", f"{month}-{day:02d}T{n:02d}:00:00", "cpu=10")


def run(files, ctx, inp, out="out.csv", period=None):
    return convert(
        ConvertRequest(
            "slurm", (inp,), files / out, files / "rates.yaml", files / "amap.yaml", period=period
        ),
        ctx=ctx,
    )


def ledger(ctx, files, day="2025-07-01"):
    from datetime import date

    view = rates_in_force(files / "rates.yaml", date.fromisoformat(day), ctx)
    return {(t.subsidy, t.project_id): (t.quantity, t.amount) for t in view.ledger}


def test_same_conversion_twice_consumes_nothing_more(files, ctx):
    inp = write_sacct(files / "jul.txt", hours("1", 1, 12))  # 10 CPUs x 12 h = 120 core-hours
    first = run(files, ctx, inp, "a.csv")
    assert [(e.period, e.status) for e in first.ledger] == [("2025-07", "recorded")]
    # 100 free, then 50 % of 20 core-hours x 0.10 = 1.00 subsidy
    assert first.list_total == D("12") and first.billed_total == D("1")
    assert ledger(ctx, files) == {("free", "GEN"): (D("100"), D("10")), ("half", "GEN"): (D("0"), D("1"))}
    again = run(files, ctx, inp, "b.csv")
    assert [(e.status, e.run_id) for e in again.ledger] == [("unchanged", first.ledger[0].run_id)]
    assert (files / "a.csv").read_bytes() == (files / "b.csv").read_bytes()
    assert ledger(ctx, files) == {("free", "GEN"): (D("100"), D("10")), ("half", "GEN"): (D("0"), D("1"))}


def test_fiscal_year_cap_counts_earlier_periods_and_a_new_input_supersedes(files, ctx):
    jul = write_sacct(files / "jul.txt", hours("1", 1, 23))  # 230 core-hours: 100 free, 13.00 list
    aug = write_sacct(files / "aug.txt", hours("2", 1, 23, "2025-08"))
    a = run(files, ctx, jul)
    assert a.billed_total == D("6.5")  # 23.00 - 10.00 free - 6.50 (half of 13.00)
    b = run(files, ctx, aug)  # only 3.50 of the 10.00 cap is left
    assert b.billed_total == D("9.5")
    assert ledger(ctx, files)[("half", "GEN")] == (D("0"), D("10"))
    # a corrected July input: the earlier July record is superseded, August must be redone
    jul2 = write_sacct(files / "jul2.txt", hours("1", 1, 15))  # 150 core-hours: 2.50 of cap
    c = run(files, ctx, jul2)
    assert [e.status for e in c.ledger] == ["replaced"]
    assert any("convert again 2025-08 (slurm)" in w for w in c.warnings)
    assert ledger(ctx, files)[("half", "GEN")] == (D("0"), D("6"))  # 2.50 + the stale 3.50
    d = run(files, ctx, aug)  # redone: 7.50 of the cap left, August takes 6.50
    assert [e.status for e in d.ledger] == ["recomputed"]
    assert d.billed_total == D("6.5")
    assert ledger(ctx, files)[("half", "GEN")] == (D("0"), D("9"))
    assert [e.status for e in run(files, ctx, aug).ledger] == ["unchanged"]


def test_a_job_split_across_months_draws_each_month_s_allowance(files, ctx):
    inp = write_sacct(files / "x.txt", job("1", "2025-07-31T20:00:00", "2025-08-01T04:00:00", "cpu=25"))
    r = run(files, ctx, inp)  # 100 core-hours in each month: both free
    assert [(e.period, e.status) for e in r.ledger] == [("2025-07", "recorded"), ("2025-08", "recorded")]
    assert r.billed_total == D("0") and r.list_total == D("20")


def test_period_with_no_usage_releases_an_earlier_record(files, ctx):
    run(files, ctx, write_sacct(files / "a.txt", hours("1", 1, 5)), period="2025-07")
    empty = run(files, ctx, write_sacct(files / "b.txt"), period="2025-07")
    assert [(e.status, e.consumed) for e in empty.ledger] == [("replaced", ())]
    assert ledger(ctx, files) == {}


def test_a_ledger_table_needs_the_database(files):
    inp = write_sacct(files / "jul.txt", hours("1", 1, 1))
    with pytest.raises(ConfigError, match="has free allowances or fiscal-year caps"):
        run(files, None, inp)


def test_tables_without_allowances_need_no_database(files):
    RATES_NO = {**RATES, "subsidies": [{"name": "half", "percent": "50"}]}
    (files / "rates.yaml").write_text(yaml.safe_dump(RATES_NO))
    r = run(files, None, write_sacct(files / "jul.txt", hours("1", 1, 1)))
    assert r.billed_total == D("0.5") and r.ledger == ()


@pytest.mark.parametrize(
    "kind,inputs,extra",
    [
        ("slurm", ["tests/fixtures/sacct/all_steps.txt"], {}),
        ("slurm-per-job", ["tests/fixtures/sacct/allocations.txt"], {"per_job": True}),
        ("storage", ["sample_data/convert/storage_2026-01.csv"], {}),
        (
            "csv",
            ["sample_data/convert/instrument_sessions.csv"],
            {"mapping": SAMPLES / "convert" / "instrument_sessions.mapping.yaml"},
        ),
        (
            "csv",
            ["sample_data/convert/instrument_sessions.csv"],
            {"mapping": SAMPLES / "convert" / "instrument_sessions.priced.yaml"},
        ),
    ],
)
def test_every_converted_sample_imports_cleanly(tmp_path, ctx, kind, inputs, extra):
    real = kind.split("-")[0]
    out = tmp_path / "out.csv"
    result = convert(
        ConvertRequest(
            real,
            tuple(ROOT / i for i in inputs),
            out,
            SAMPLES / "rates" / "rates.example.yaml",
            SAMPLES / "attribution" / "attribution.example.yaml",
            **extra,
        ),
        ctx=ctx,
    )
    source = {"slurm": "hpc", "storage": "storage", "csv": "focus"}[real]
    imported = ingest(ctx, out, source)
    assert imported.status == "imported" and imported.problem_count == 0
    assert imported.rows == result.rows and imported.periods == result.periods
    billed = {t.column: t.stored_total for t in imported.totals}
    assert billed["BilledCost"] == result.billed_total and billed["ListCost"] == result.list_total
    assert imported.flagged == sum(result.report["unmapped"].values())
