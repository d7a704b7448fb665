"""Rate tables (domain): building, lookup, validation passes, pricing with subsidies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from openchargeback.convert.ratefile import load_checked, load_rate_table
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import Prior, UsageLine, price_lines
from openchargeback.domain.rate_checks import check
from openchargeback.domain.rates import build_rate_table, fiscal_year, fiscal_year_periods

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "sample_data" / "rates" / "rates.example.yaml"


def table(rates=None, subsidies=None, **extra):
    data = {
        "name": "t",
        "classes": ["internal", "external"],
        "class_members": {"external": {"projects": ["EXT"], "accounts": ["acme"]}},
        "rates": rates
        if rates is not None
        else [
            {
                "service": "hpc",
                "resource": "cpu",
                "unit": "core-hour",
                "price": {"internal": D("0.01"), "external": D("0.03")},
                "from": date(2025, 1, 1),
            }
        ],
        "subsidies": subsidies or [],
        **extra,
    }
    return build_rate_table(data)


def line(q, resource="cpu", project="P1", period="2025-03", **kw):
    return UsageLine(Period.parse(period), kw.pop("service", "hpc"), resource, D(q), project=project, **kw)


def test_example_table_is_valid_and_loads_decimals():
    t = load_checked(EXAMPLE)
    assert t.name == "rc-rates" and t.classes == ("internal", "external")
    assert all(isinstance(v, D) for r in t.rates for v in r.prices.values())
    assert [p for p in check(t) if p.severity == "error"] == []
    assert t.needs_ledger


def test_structural_problems_name_the_entry_and_key():
    with pytest.raises(InvalidInput) as e:
        build_rate_table(
            {
                "name": "x",
                "bogus": 1,
                "rates": [
                    {
                        "service": "hpc",
                        "resource": "cpu",
                        "unit": "core-hour",
                        "price": 0.5,
                        "from": "2025-01-01",
                    },
                    {"service": "hpc", "unit": "core-hour", "price": "abc", "from": "soon"},
                ],
            },
            where="r.yaml",
        )
    msg = str(e.value)
    assert "r.yaml: top level: unknown key 'bogus'" in msg
    assert "rates[1].price: 0.5 was read as a binary float" in msg
    assert "rates[2].resource is required" in msg
    assert "rates[2].price: expected a decimal number such as 0.025, found 'abc'" in msg
    assert "rates[2].from: expected a date such as 2025-07-01, found 'soon'" in msg


def test_check_finds_overlaps_gaps_unknown_units_and_missing_prices():
    t = table(
        rates=[
            {
                "service": "hpc",
                "resource": "cpu",
                "unit": "core-hour",
                "price": D("1"),
                "from": date(2025, 1, 1),
                "to": date(2025, 7, 1),
            },
            {
                "service": "hpc",
                "resource": "cpu",
                "unit": "core-hour",
                "price": D("2"),
                "from": date(2025, 6, 1),
            },
            {
                "service": "hpc",
                "resource": "gpu",
                "unit": "gpu-hour",
                "price": D("1"),
                "from": date(2025, 1, 1),
                "to": date(2025, 3, 1),
            },
            {
                "service": "hpc",
                "resource": "gpu",
                "unit": "gpu-hour",
                "price": D("1"),
                "from": date(2025, 5, 1),
            },
            {
                "service": "hpc",
                "resource": "mem",
                "unit": "furlongs",
                "price": D("1"),
                "from": date(2025, 1, 1),
            },
            {
                "service": "hpc",
                "resource": "node",
                "unit": "node-hour",
                "price": {"internal": D("1")},
                "from": date(2025, 1, 15),
            },
        ],
        subsidies=[
            {"name": "a", "percent": D("10"), "from": date(2025, 1, 1)},
            {"name": "a", "percent": D("20"), "from": date(2025, 1, 1)},
        ],
    )
    probs = [p.describe() for p in check(t)]
    text = "\n".join(probs)
    assert "error: rate #2 (hpc/cpu, from 2025-06-01): overlaps rate #1 (hpc/cpu, from 2025-01-01)" in text
    assert "warning: rate #4 (hpc/gpu, from 2025-05-01): gap after rate #3" in text
    assert "no price from 2025-03-01 to 2025-05-01" in text
    assert "error: rate #5 (hpc/mem, from 2025-01-01): unknown unit 'furlongs'" in text
    assert "resource mem is measured in gb-hour, not furlongs" in text
    assert "error: rate #6 (hpc/node, from 2025-01-15): no price for rate class external" in text
    assert "warning: rate #6 (hpc/node, from 2025-01-15): starts on 2025-01-15, not on the first" in text
    assert "error: subsidy 'a': the name is used twice" in text
    assert "error: subsidy 'a': applies to the same lines as subsidy 'a'" in text


def test_load_checked_refuses_a_table_with_errors(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "name: bad\nrates:\n  - {service: hpc, resource: cpu, unit: parsecs, price: 1.5, from: 2025-01-01}\n"
    )
    with pytest.raises(InvalidInput, match=r"(?s)2 error.*unknown unit 'parsecs'"):
        load_checked(p)
    assert load_rate_table(p).rates[0].prices["internal"] == D("1.5")  # YAML float kept as decimal text


def test_find_prefers_the_most_specific_rate_in_force():
    t = table(
        rates=[
            {
                "service": "hpc",
                "resource": "cpu",
                "unit": "core-hour",
                "price": D("1"),
                "from": date(2025, 1, 1),
            },
            {
                "service": "hpc",
                "resource": "cpu",
                "partition": "gpu",
                "unit": "core-hour",
                "price": D("2"),
                "from": date(2025, 1, 1),
            },
            {
                "service": "hpc",
                "resource": "cpu",
                "partition": "gpu",
                "qos": "high",
                "unit": "core-hour",
                "price": D("3"),
                "from": date(2025, 1, 1),
                "to": date(2025, 6, 1),
            },
        ]
    )
    d = date(2025, 3, 1)
    assert t.find("hpc", "cpu", {"partition": "cpu"}, d).prices["internal"] == D("1")
    assert t.find("hpc", "cpu", {"partition": "gpu"}, d).prices["internal"] == D("2")
    assert t.find("hpc", "cpu", {"partition": "gpu", "qos": "high"}, d).prices["internal"] == D("3")
    june = date(2025, 6, 1)
    assert t.find("hpc", "cpu", {"partition": "gpu", "qos": "high"}, june).prices["internal"] == D("2")
    with pytest.raises(InvalidInput, match=r"no price in force on 2024-12-01 for hpc/cpu \(partition gpu\)"):
        t.find("hpc", "cpu", {"partition": "gpu"}, date(2024, 12, 1))


def test_rate_class_by_project_then_account():
    t = table()
    assert t.rate_class("EXT", None) == "external"
    assert t.rate_class("P1", "acme") == "external"
    assert t.rate_class("P1", "other") == "internal"
    assert t.rate_class(None, None) == "internal"


def test_fiscal_years():
    assert fiscal_year(Period(2025, 6), 7) == "FY2025"
    assert fiscal_year(Period(2025, 7), 7) == "FY2026"
    assert fiscal_year(Period(2025, 12), 1) == "FY2025"
    assert fiscal_year_periods(Period(2026, 2), 7) == (Period(2025, 7), Period(2026, 6))
    with pytest.raises(InvalidInput):
        fiscal_year(Period(2025, 1), 13)


def test_list_cost_is_quantity_times_the_class_price():
    t = table()
    p = price_lines(t, [line("10.5"), line("2", project="EXT")])
    assert [x.list_cost for x in p.lines] == [D("0.105"), D("0.06")]
    assert [x.rate_class for x in p.lines] == ["internal", "external"]
    assert [x.billed_cost for x in p.lines] == [D("0.105"), D("0.06")]


def test_allowance_is_a_monthly_pool_per_project_consumed_in_line_order():
    t = table(subsidies=[{"name": "free", "allowance": D("100"), "unit": "core-hour"}])
    p = price_lines(
        t,
        [
            line("60"),
            line("60"),
            line("60", project="P2"),
            line("60", period="2025-04"),
            line("5", project=None),
        ],
    )
    grants = [x.grants[0].quantity if x.grants else D(0) for x in p.lines]
    assert grants == [D("60"), D("40"), D("60"), D("60"), D(0)]
    assert [x.billed_cost for x in p.lines] == [D("0"), D("0.2"), D("0"), D("0"), D("0.05")]
    assert p.consumption[("free", "P1", "FY2025", "2025-03")].quantity == D("100")


def test_allowance_respects_what_earlier_runs_took():
    t = table(subsidies=[{"name": "free", "allowance": D("100"), "unit": "core-hour"}])
    prior = Prior(month_quantity={("free", "P1", "2025-03"): D("90")})
    p = price_lines(t, [line("60")], prior=prior)
    assert p.lines[0].grants[0].quantity == D("10")
    assert p.lines[0].billed_cost == D("0.5")


def test_most_specific_percentage_wins_after_allowances():
    t = table(
        subsidies=[
            {"name": "free", "allowance": D("50"), "unit": "core-hour"},
            {"name": "all-half", "percent": D("50")},
            {"name": "p1-quarter", "percent": D("25"), "project": "P1"},
        ]
    )
    p = price_lines(t, [line("150"), line("100", project="P2")])
    a, b = p.lines
    assert a.list_cost == D("1.5")
    assert [(g.subsidy, g.amount) for g in a.grants] == [("free", D("0.5")), ("p1-quarter", D("0.25"))]
    assert a.billed_cost == D("0.75")
    assert [(g.subsidy, g.amount) for g in b.grants] == [("free", D("0.5")), ("all-half", D("0.25"))]


def test_fiscal_year_cap_limits_the_subsidy_across_runs():
    t = table(subsidies=[{"name": "half", "percent": D("50"), "fiscal_year_cap": D("1.00")}])
    prior = Prior(year_amount={("half", "P1", "FY2025"): D("0.70")})
    p = price_lines(t, [line("40"), line("40"), line("40", period="2026-01")], prior=prior)
    assert [x.subsidy for x in p.lines] == [D("0.2"), D("0.1"), D("0.2")]  # 0.30 left in FY2025
    assert p.consumption[("half", "P1", "FY2025", "2025-03")].amount == D("0.3")
    assert p.consumption[("half", "P1", "FY2026", "2026-01")].amount == D("0.2")


def test_check_finds_rates_that_tie_for_one_line():
    base = {
        "service": "hpc",
        "resource": "cpu",
        "unit": "core-hour",
        "price": D("1"),
        "from": date(2025, 1, 1),
    }
    t = table(rates=[base, {**base, "qos": "high"}, {**base, "partition": "bigmem"}])
    text = "\n".join(p.describe() for p in check(t))
    assert (
        "error: rate #3 (hpc/cpu, partition bigmem, from 2025-01-01): ties with rate #2 "
        "(hpc/cpu, qos high, from 2025-01-01) for hpc/cpu lines with partition bigmem, qos high"
    ) in text
    fixed = table(
        rates=[
            base,
            {**base, "qos": "high"},
            {**base, "partition": "bigmem"},
            {**base, "partition": "bigmem", "qos": "high"},
        ]
    )
    assert [p for p in check(fixed) if p.severity == "error"] == []
