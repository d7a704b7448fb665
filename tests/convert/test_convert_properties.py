"""Property tests: converted costs are quantity x rate minus subsidy to the cent;
allowances are never consumed twice; every converted file imports cleanly."""

from __future__ import annotations

import tempfile
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sacct_builders import job, sacct

from openchargeback.config import Settings
from openchargeback.domain.money import money
from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import UsageLine, price_lines
from openchargeback.domain.rates import build_rate_table, fiscal_year
from openchargeback.services.context import build_context
from openchargeback.services.convert.conversion import ConvertRequest, convert
from openchargeback.services.convert.rates import rates_in_force
from openchargeback.services.ingest.loading import ingest

CENT = D("0.01")
decimals = st.decimals(min_value=0, max_value=10_000, places=6, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=0, max_value=50, places=4, allow_nan=False, allow_infinity=False)
percents = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
projects = st.sampled_from(["P1", "P2", None])
periods = st.sampled_from([Period(2025, 6), Period(2025, 7), Period(2025, 8)])


@st.composite
def tables(draw):
    subsidies = []
    if draw(st.booleans()):
        subsidies.append({"name": "free", "allowance": draw(decimals), "unit": "core-hour"})
    if draw(st.booleans()):
        cap = draw(st.none() | st.decimals(min_value=0, max_value=500, places=2))
        subsidies.append({"name": "pct", "percent": draw(percents), "fiscal_year_cap": cap})
    if draw(st.booleans()):
        subsidies.append({"name": "p1", "percent": draw(percents), "project": "P1"})
    return build_rate_table(
        {
            "name": "prop",
            "classes": ["internal"],
            "rates": [
                {
                    "service": "hpc",
                    "resource": "cpu",
                    "unit": "core-hour",
                    "price": draw(prices),
                    "from": date(2020, 1, 1),
                }
            ],
            "subsidies": subsidies,
        }
    )


@settings(max_examples=300, deadline=None)
@given(tables(), st.lists(st.tuples(decimals, projects, periods), max_size=12))
def test_costs_are_quantity_times_rate_minus_subsidy_to_the_cent(table, raw):
    lines = [UsageLine(p, "hpc", "cpu", q, project=proj) for q, proj, p in raw]
    result = price_lines(table, lines, fiscal_year_start_month=7)
    price = table.rates[0].prices["internal"]
    allowance_used: dict = {}
    cap_used: dict = {}
    for pl in result.lines:
        q = pl.line.quantity
        granted = sum((g.amount for g in pl.grants), D(0))
        assert pl.list_cost == money(q * price)
        assert abs(pl.list_cost - q * price) < CENT
        assert pl.billed_cost == pl.list_cost - granted
        assert abs(pl.billed_cost - (q * price - granted)) < CENT
        assert D(0) <= pl.billed_cost <= pl.list_cost
        assert all(g.amount >= 0 for g in pl.grants)
        for g in pl.grants:
            if g.kind == "allowance":
                key = (pl.line.project, pl.line.period)
                allowance_used[key] = allowance_used.get(key, D(0)) + g.quantity
            sub = next(s for s in table.subsidies if s.name == g.subsidy)
            if sub.fiscal_year_cap is not None:
                key = (g.subsidy, pl.line.project, fiscal_year(pl.line.period, 7))
                cap_used[key] = cap_used.get(key, D(0)) + g.amount
    free = next((s for s in table.subsidies if s.allowance is not None), None)
    for used in allowance_used.values():
        assert used <= free.allowance
    for (name, _, _), used in cap_used.items():
        assert used <= next(s for s in table.subsidies if s.name == name).fiscal_year_cap
    assert result.billed_total == sum((p.billed_cost for p in result.lines), D(0))


RATES = {
    "name": "prop-ledger",
    "classes": ["internal"],
    "rates": [
        {"service": "hpc", "resource": "cpu", "unit": "core-hour", "price": "0.10", "from": "2025-01-01"}
    ],
    "subsidies": [
        {"name": "free", "allowance": "100", "unit": "core-hour"},
        {"name": "half", "percent": "50", "fiscal_year_cap": "10.00"},
    ],
}
AMAP = {
    "accounts": {
        a: {"pi_email": f"{a}@example.edu", "project_id": a.upper(), "fund_org": "F"}
        for a in ("genomics", "climate")
    }
}
# Candidate inputs: a month and a variant; each is a few jobs of whole hours.
INPUTS = {
    (m, v): [
        job(
            f"{m}{v}{i}",
            f"2025-{m:02d}-0{i + 1}T00:00:00",
            f"2025-{m:02d}-0{i + 1}T{h:02d}:00:00",
            f"cpu={c}",
            account=acct,
        )
        for i, (h, c, acct) in enumerate(spec)
    ]
    for (m, v), spec in {
        (7, 0): [(10, 10, "genomics"), (5, 4, "climate")],
        (7, 1): [(20, 10, "genomics")],
        (8, 0): [(23, 10, "genomics"), (1, 1, "climate")],
        (8, 1): [(2, 3, "climate")],
        (9, 0): [(15, 16, "genomics")],
    }.items()
}


def _context(tmp: Path):
    s = Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp}/b.db"},
            "sources": [{"name": "hpc"}],
            "convert": {"fiscal_year_start_month": 7},
        }
    )
    return build_context(s, actor="prop")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(INPUTS)), min_size=1, max_size=6))
def test_allowances_are_never_consumed_twice(steps):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "r.yaml").write_text(yaml.safe_dump(RATES))
        (tmp / "a.yaml").write_text(yaml.safe_dump(AMAP))
        ctx = _context(tmp)
        try:
            for n, key in enumerate(steps):
                inp = tmp / f"in_{key[0]}_{key[1]}.txt"
                inp.write_text("".join(sacct(*INPUTS[key])))
                req = ConvertRequest(
                    "slurm",
                    (inp,),
                    tmp / f"out{n}.csv",
                    tmp / "r.yaml",
                    tmp / "a.yaml",
                    period=f"2025-{key[0]:02d}",
                )
                first = convert(req, ctx=ctx)
                before = _ledger(ctx, tmp)
                again = convert(ConvertRequest(**{**req.__dict__, "output": tmp / f"again{n}.csv"}), ctx=ctx)
                assert [e.status for e in again.ledger] == ["unchanged"]
                assert (tmp / f"out{n}.csv").read_bytes() == (tmp / f"again{n}.csv").read_bytes()
                assert _ledger(ctx, tmp) == before
                assert first.billed_total == again.billed_total
                for (subsidy, _project, month), (qty, _amount) in before.items():
                    if subsidy == "free":
                        assert qty <= D("100"), (month, qty)
                for project in ("GENOMICS", "CLIMATE"):
                    total = sum(
                        (a for (s, p, _), (_, a) in before.items() if s == "half" and p == project), D(0)
                    )
                    assert total <= D("10"), total
        finally:
            ctx.engine.dispose()


def _ledger(ctx, tmp):
    """(subsidy, project, period) -> (quantity, amount) of the current runs."""
    from openchargeback.storage import allowances

    out = {}
    with ctx.read() as conn:
        for r in allowances.current_consumption(conn, "prop-ledger"):
            out[(r.subsidy, r.project_id, r.period)] = (r.quantity, r.amount)
    assert rates_in_force(tmp / "r.yaml", date(2025, 7, 1), ctx).ledger is not None
    return out


@st.composite
def sacct_jobs(draw):
    rows = []
    for i in range(draw(st.integers(1, 8))):
        start = draw(st.integers(0, 60 * 24 * 45)) * 60  # within 45 days of 2025-07-20
        length = draw(st.integers(0, 60 * 24 * 20)) * 60 + draw(st.integers(0, 59))
        from datetime import UTC, datetime, timedelta

        t0 = datetime(2025, 7, 20, tzinfo=UTC) + timedelta(seconds=start)
        t1 = t0 + timedelta(seconds=length)
        tres = f"cpu={draw(st.integers(1, 64))},mem={draw(st.integers(100, 512_000))}M"
        gpu = draw(st.sampled_from(["", "a100", "v100", "untyped"]))
        if gpu == "untyped":
            tres += ",gres/gpu=1"
        elif gpu:
            tres += f",gres/gpu:{gpu}={draw(st.integers(1, 4))},gres/gpu={draw(st.integers(1, 4))}"
        state = draw(st.sampled_from(["COMPLETED", "FAILED", "CANCELLED by 0", "TIMEOUT", "PENDING"]))
        acct = draw(st.sampled_from(["genomics", "climate", "physics", ""]))
        part = "gpu" if gpu else draw(st.sampled_from(["cpu", "gpu"]))
        rows.append(
            job(
                str(i + 1),
                t0.strftime("%Y-%m-%dT%H:%M:%S"),
                t1.strftime("%Y-%m-%dT%H:%M:%S"),
                tres,
                account=acct,
                state=state,
                partition=part,
                qos=draw(st.sampled_from(["normal", "high"])),
            )
        )
    return rows


ROOT = Path(__file__).resolve().parents[2]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sacct_jobs(), st.booleans())
def test_every_converted_file_imports_cleanly(rows, per_job):
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        inp = tmp / "sacct.txt"
        inp.write_text("".join(sacct(*rows)))
        ctx = _context(tmp)
        try:
            result = convert(
                ConvertRequest(
                    "slurm",
                    (inp,),
                    tmp / "out.csv",
                    ROOT / "sample_data" / "rates" / "rates.example.yaml",
                    ROOT / "sample_data" / "attribution" / "attribution.example.yaml",
                    per_job=per_job,
                ),
                ctx=ctx,
            )
            if result.rows == 0:
                return
            imported = ingest(ctx, tmp / "out.csv", "hpc")
            assert imported.problem_count == 0 and imported.rows == result.rows
            assert imported.periods == result.periods
            totals = {t.column: t.stored_total for t in imported.totals}
            assert totals["BilledCost"] == result.billed_total
            assert totals["ListCost"] == result.list_total
            assert imported.flagged == sum(result.report["unmapped"].values())
        finally:
            ctx.engine.dispose()
