"""Property tests: any set of approved charges across sources, funds, account codes,
splits and adjustments gives a gl journal that balances per source and in total, to the
cent, whose charges equal the allocation's total (what statements total), fund by fund;
and a delta brings what was posted to what should be posted."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from openchargeback.domain import journal as dom
from openchargeback.domain.allocation import Split
from openchargeback.domain.allocation_lines import build_lines
from openchargeback.domain.money import proportional
from openchargeback.domain.periods import Period
from openchargeback.rendering import journal as rendering
from openchargeback.services.journal.data import entries_from

PERIOD = "2025-01"
SOURCES = {"aws": "billed", "hpc": "effective", "s3": "billed", "gpu": "effective"}
RECOVERIES = {s: dom.Recovery(s, s.upper(), f"RC-{s.upper()}-0001", f"44{i}0") for i, s in enumerate(SOURCES)}
RULES = dom.Rules(adjustment_fund_org="RC-ADMIN-0000", adjustment_account="4400", debit_account="7400")
FUNDS = ("BIO-2024-001", "NSF-ATM-2024", "DEPT-9", "ENGR-STARTUP")
PROJECTS = ("genomics", "climate", "cfd", None)
ACCOUNTS = (None, "7001", "7002", "7420")
CENT = Decimal("0.01")

exact = st.builds(lambda n: Decimal(n).scaleb(-12), st.integers(-5 * 10**15, 10**16))
cents = st.builds(lambda n: Decimal(n).scaleb(-2), st.integers(-50_000, 50_000).filter(bool))


@st.composite
def shares(draw):
    funds = draw(st.lists(st.sampled_from(FUNDS), min_size=2, max_size=3, unique=True))
    cuts = sorted(draw(st.sets(st.integers(1, 99), min_size=len(funds) - 1, max_size=len(funds) - 1)))
    bounds = [0, *cuts, 100]
    return tuple(
        (f, Decimal(b - a)) for f, (a, b) in zip(funds, zip(bounds, bounds[1:], strict=False), strict=True)
    )


@st.composite
def periods_data(draw):
    rows: dict[tuple, dict] = {}
    for _ in range(draw(st.integers(1, 25))):
        source = draw(st.sampled_from(sorted(SOURCES)))
        key = (
            source,
            SOURCES[source],
            draw(st.sampled_from(("a@x.edu", "b@x.edu", None))),
            draw(st.sampled_from(PROJECTS)),
            draw(st.sampled_from(FUNDS)),
            draw(st.sampled_from(("Compute", "Storage", None))),
            draw(st.sampled_from(("USD", "USD", "USD", "EUR"))),
            draw(st.sampled_from(ACCOUNTS)),
        )
        billed, effective, listed = draw(exact), draw(exact), draw(exact)
        r = rows.setdefault(
            key, {"billed_cost": Decimal(0), "effective_cost": Decimal(0), "list_cost": Decimal(0), "rows": 0}
        )
        r["billed_cost"] += billed
        r["effective_cost"] += effective
        r["list_cost"] += listed
        r["rows"] += 1
    groups = [
        {
            "source": k[0],
            "cost_basis": k[1],
            "pi_email": k[2],
            "project_id": k[3],
            "fund_org": k[4],
            "service": k[5],
            "currency": k[6],
            "account_code": k[7],
            **v,
        }
        for k, v in rows.items()
    ]
    splits = []
    for project in draw(st.sets(st.sampled_from(PROJECTS[:3]), max_size=3)):
        scope = draw(st.sampled_from(("all", "source", "service")))
        value = {
            "all": None,
            "source": draw(st.sampled_from(sorted(SOURCES))),
            "service": draw(st.sampled_from(("Compute", "Storage"))),
        }[scope]
        splits.append(Split(project, Period(2024, 1), None, draw(shares()), scope, value))
    adjustments = [
        SimpleNamespace(
            id=i + 1,
            period=PERIOD,
            amount=draw(cents),
            currency="USD",
            reason="r",
            pi_email="a@x.edu",
            project_id=draw(st.sampled_from(PROJECTS)),
            fund_org=draw(st.sampled_from((*FUNDS, None))),
            source=draw(st.sampled_from((*SOURCES, None))),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    adjustments = [a for a in adjustments if a.fund_org or a.project_id]
    projects = {
        "genomics": ("a@x.edu", "BIO-2024-001"),
        "climate": ("b@x.edu", "NSF-ATM-2024"),
        "cfd": ("b@x.edu", "ENGR-STARTUP"),
    }
    return groups, adjustments, splits, projects


def _allocation(groups, adjustments, splits, projects):
    """The allocation as the allocation service makes it: groups without account codes."""
    merged: dict[tuple, dict] = {}
    for g in groups:
        k = (
            g["source"],
            g["cost_basis"],
            g["pi_email"],
            g["project_id"],
            g["fund_org"],
            g["service"],
            g["currency"],
        )
        m = merged.setdefault(
            k,
            {
                "period": PERIOD,
                "source": k[0],
                "cost_basis": k[1],
                "pi_email": k[2],
                "project_id": k[3],
                "fund_org": k[4],
                "service": k[5],
                "currency": k[6],
                "rows": 0,
                "billed_cost": Decimal(0),
                "effective_cost": Decimal(0),
                "list_cost": Decimal(0),
            },
        )
        for a in ("billed_cost", "effective_cost", "list_cost", "rows"):
            m[a] += g[a]
    lines, proofs = build_lines(list(merged.values()), adjustments, splits, projects)
    assert all(p.balanced for p in proofs)
    return lines


@settings(max_examples=300, deadline=None)
@given(periods_data())
def test_gl_journal_balances_and_equals_the_allocation(data):
    groups, adjustments, splits, projects = data
    entries = entries_from(groups, adjustments, PERIOD, projects, splits)
    postings = dom.build_postings(PERIOD, entries, RECOVERIES, [], RULES)
    assert dom.imbalances(postings) == []
    assert all(p.amount == p.amount.quantize(CENT) and p.amount for p in postings)

    lines = _allocation(groups, adjustments, splits, projects)
    want: dict[str, Decimal] = {}
    by_fund: dict[tuple, Decimal] = {}
    for ln in lines:
        want[ln.currency] = want.get(ln.currency, Decimal(0)) + ln.charged
        by_fund[(ln.currency, ln.fund_org)] = by_fund.get((ln.currency, ln.fund_org), Decimal(0)) + ln.charged
    got = {c: t["charged"] for c, t in dom.totals(postings).items()}
    assert {c: v for c, v in got.items() if v} == {c: v for c, v in want.items() if v}
    funds: dict[tuple, Decimal] = {}
    for p in postings:
        if p.role == "charge":
            funds[(p.currency, p.fund_org)] = funds.get((p.currency, p.fund_org), Decimal(0)) + p.amount
    assert {k: v for k, v in funds.items() if v} == {k: v for k, v in by_fund.items() if v}

    # the file: debits equal credits per source (reference) and in total, to the cent
    for currency in {p.currency for p in postings}:
        mine = [p for p in postings if p.currency == currency]
        rows = list(csv.DictReader(io.StringIO(rendering.render_gl(mine).decode(), newline="")))
        debit = sum((Decimal(r["Debit"] or 0) for r in rows), Decimal(0))
        credit = sum((Decimal(r["Credit"] or 0) for r in rows), Decimal(0))
        assert debit == credit == dom.totals(mine)[currency]["debit"]
        per_ref: dict[str, Decimal] = {}
        for r in rows:
            per_ref[r["Reference"]] = (
                per_ref.get(r["Reference"], Decimal(0)) + Decimal(r["Debit"] or 0) - Decimal(r["Credit"] or 0)
            )
        assert not any(per_ref.values())


@settings(max_examples=100, deadline=None)
@given(periods_data(), periods_data())
def test_delta_brings_the_posted_journal_to_the_current_one(first, second):
    groups, adjustments, splits, projects = first
    before = dom.build_postings(
        PERIOD, entries_from(groups, adjustments, PERIOD, projects, splits), RECOVERIES, [], RULES
    )
    groups, adjustments, splits, projects = second
    after = dom.build_postings(
        PERIOD, entries_from(groups, adjustments, PERIOD, projects, splits), RECOVERIES, [], RULES
    )
    d = dom.delta(before, after, RULES)
    assert dom.imbalances(d) == []
    net: dict = {}
    for p in (*before, *d):
        net[p.key] = net.get(p.key, Decimal(0)) + p.amount
    assert {k: v for k, v in net.items() if v} == {p.key: p.amount for p in after}


@settings(max_examples=300, deadline=None)
@given(
    target=st.builds(lambda n: Decimal(n).scaleb(-2), st.integers(-(10**9), 10**9)),
    weights=st.lists(exact, min_size=1, max_size=6),
)
def test_proportional_parts_add_up_and_stay_close(target, weights):
    parts = proportional(target, weights, 2)
    assert sum(parts, Decimal(0)) == target
    assert all(p == p.quantize(CENT) for p in parts)
    whole = sum(weights, Decimal(0))
    if whole:
        # each part within a cent of its exact share, but the largest, which takes the
        # leftover: fewer cents than there are parts
        shares = [target * w / whole for w in weights]
        largest = max(range(len(weights)), key=lambda i: abs(shares[i]))
        for i, (p, e) in enumerate(zip(parts, shares, strict=True)):
            assert abs(p - e) < (CENT * len(parts) if i == largest else CENT)
