"""Property tests of the money invariants of splitting and allocation (pure, no database)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openchargeback.domain.allocation import (
    Split,
    carve,
    check_shares,
    crossed_thresholds,
    fiscal_year,
    select_split,
    split_amount,
)
from openchargeback.domain.allocation_lines import build_lines
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import round_minor
from openchargeback.domain.periods import Period

CENT = Decimal("0.01")
UNITS = 100_000_000  # 100 % in millionths of a percent

amounts = st.builds(
    lambda n, scale: Decimal(n).scaleb(-scale), st.integers(-(10**19), 10**19), st.integers(0, 12)
)


@st.composite
def share_sets(draw, max_funds: int = 8):
    """Funds and percentages (up to 6 decimals) adding up to exactly 100."""
    n = draw(st.integers(1, max_funds))
    cuts = sorted(draw(st.sets(st.integers(1, UNITS - 1), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, UNITS]
    pcts = [Decimal(b - a).scaleb(-6) for a, b in zip(bounds, bounds[1:], strict=False)]
    codes = draw(
        st.lists(st.text("ABCDEFGH-0123456789", min_size=1, max_size=6), min_size=n, max_size=n, unique=True)
    )
    return list(zip(codes, pcts, strict=True))


@settings(max_examples=400, deadline=None)
@given(amount=amounts, shares=share_sets())
def test_split_parts_sum_to_the_rounded_amount(amount, shares):
    parts = split_amount(amount, shares)
    whole = round_minor(amount)
    assert sum(parts, Decimal(0)) == whole
    assert all(p == p.quantize(CENT) for p in parts)
    largest = min(range(len(shares)), key=lambda i: (-shares[i][1], shares[i][0]))
    for i, (part, (_, pct)) in enumerate(zip(parts, shares, strict=True)):
        exact = whole * pct / 100
        slack = CENT * len(shares) if i == largest else CENT
        assert abs(part - exact) < slack
        if i != largest:  # truncated toward zero: never more than the exact share
            assert abs(part) <= abs(exact)


@settings(max_examples=200, deadline=None)
@given(amount=amounts, shares=share_sets(), data=st.data())
def test_split_is_deterministic_whatever_the_order(amount, shares, data):
    shuffled = data.draw(st.permutations(shares))
    a = dict(zip([c for c, _ in shares], split_amount(amount, shares), strict=True))
    b = dict(zip([c for c, _ in shuffled], split_amount(amount, shuffled), strict=True))
    assert a == b


def test_split_examples():
    shares = [("NSF-123", Decimal(60)), ("DEPT-9", Decimal(40))]
    assert split_amount(Decimal("100.00"), shares) == (Decimal("60.00"), Decimal("40.00"))
    assert split_amount(Decimal("0.05"), shares) == (Decimal("0.03"), Decimal("0.02"))
    assert split_amount(Decimal("-0.05"), shares) == (Decimal("-0.03"), Decimal("-0.02"))
    thirds = [("A", Decimal("33.333333")), ("B", Decimal("33.333333")), ("C", Decimal("33.333334"))]
    assert split_amount(Decimal("1.00"), thirds) == (Decimal("0.33"), Decimal("0.33"), Decimal("0.34"))
    even = [("B", Decimal(50)), ("A", Decimal(50))]
    assert split_amount(Decimal("0.01"), even) == (Decimal("0.00"), Decimal("0.01"))  # tie: smallest code
    assert split_amount(Decimal("10.005"), [("A", Decimal(100))]) == (Decimal("10.01"),)  # half-up first


@pytest.mark.parametrize(
    "shares,words",
    [
        ([], "at least one fund"),
        ([("A", Decimal(60)), ("B", Decimal(30))], "add up to 90"),
        ([("A", Decimal(0)), ("B", Decimal(100))], "more than 0"),
        ([("A", Decimal(50)), ("A", Decimal(50))], "given twice"),
        ([("A", Decimal("99.9999999")), ("B", Decimal("0.0000001"))], "decimals"),
    ],
)
def test_bad_shares_are_refused(shares, words):
    with pytest.raises(InvalidInput, match=words):
        check_shares(shares)


P = Period.parse


def test_split_selection_and_precedence():
    splits = [
        Split("p", P("2025-01"), P("2025-06"), (("NSF", Decimal(60)), ("DEPT", Decimal(40)))),
        Split("p", P("2025-07"), None, (("DEPT", Decimal(100)),)),
        Split("p", P("2025-01"), None, (("AWS-F", Decimal(100)),), "source", "aws"),
        Split("p", P("2025-03"), P("2025-03"), (("GPU-F", Decimal(100)),), "service", "GPU"),
    ]
    assert select_split(splits, "p", P("2024-12")) is None
    assert select_split(splits, "p", P("2025-06")).shares[0][0] == "NSF"
    assert select_split(splits, "p", P("2025-07")).shares == (("DEPT", Decimal(100)),)
    assert select_split(splits, "p", P("2025-02"), "aws").scope == "source"
    assert select_split(splits, "p", P("2025-03"), "aws", "gpu").scope == "service"
    assert select_split(splits, "p", P("2025-04"), "hpc", "GPU").shares[0][0] == "NSF"
    assert select_split(splits, "q", P("2025-04")) is None
    assert select_split(splits, None, P("2025-04")) is None


periods = st.builds(Period, st.integers(2020, 2030), st.integers(1, 12))


@settings(max_examples=300, deadline=None)
@given(a=periods, b=st.none() | periods, c=periods, d=st.none() | periods)
def test_carve_leaves_exactly_what_the_new_range_does_not_cover(a, b, c, d):
    if b is not None and b < a:
        a, b = b, a
    if d is not None and d < c:
        c, d = d, c
    old = Split("p", a, b, (("F", Decimal(100)),))
    if not old.overlaps(c, d):
        return
    pieces = carve(old, c, d)
    probe = Period(2019, 1)
    for _ in range(12 * 13):
        in_old = old.covers(probe)
        in_new = c <= probe and (d is None or probe <= d)
        in_piece = sum(1 for x, y in pieces if x <= probe and (y is None or probe <= y))
        assert in_piece == (1 if in_old and not in_new else 0), probe
        probe = probe.next()


def test_fiscal_years_and_thresholds():
    assert fiscal_year(P("2025-06"), 7) == ("FY2025", P("2024-07"), P("2025-06"))
    assert fiscal_year(P("2025-07"), 7) == ("FY2026", P("2025-07"), P("2026-06"))
    assert fiscal_year(P("2025-03"), 1) == ("FY2025", P("2025-01"), P("2025-12"))
    assert crossed_thresholds(Decimal(79), Decimal(100), [80, 100]) == ()
    assert crossed_thresholds(Decimal(80), Decimal(100), [100, 80]) == (80,)
    assert crossed_thresholds(Decimal(150), Decimal(100), [80, 100], already=[80]) == (100,)
    assert crossed_thresholds(Decimal(150), Decimal(0), [80]) == ()


# -- allocation as a whole ---------------------------------------------------------------------------
codes = st.sampled_from(["F1", "F2", "F3", None])
projects = st.sampled_from(["p1", "p2", "p3", None])
money_values = st.builds(lambda n: Decimal(n).scaleb(-10), st.integers(-(10**14), 10**14))


@st.composite
def groups(draw):
    period = draw(st.sampled_from(["2025-01", "2025-02"]))
    billed = draw(money_values)
    return {
        "period": period,
        "source": draw(st.sampled_from(["aws", "hpc"])),
        "cost_basis": draw(st.sampled_from(["billed", "effective"])),
        "pi_email": draw(st.sampled_from(["a@x.edu", None])),
        "project_id": draw(projects),
        "fund_org": draw(codes),
        "service": draw(st.sampled_from(["Compute", "GPU", None])),
        "currency": draw(st.sampled_from(["USD", "EUR"])),
        "rows": 1,
        "billed_cost": billed,
        "effective_cost": draw(money_values),
        "list_cost": draw(st.none() | money_values),
    }


@st.composite
def adjustments(draw):
    return SimpleNamespace(
        id=draw(st.integers(1, 10**6)),
        period=draw(st.sampled_from(["2025-01", "2025-02"])),
        amount=Decimal(draw(st.integers(-(10**9), 10**9).filter(bool))).scaleb(-2),
        currency=draw(st.sampled_from(["USD", "EUR"])),
        pi_email=None,
        project_id=draw(projects),
        fund_org=draw(codes),
        source=draw(st.sampled_from(["aws", None])),
        reason="r",
    )


@settings(max_examples=150, deadline=None)
@given(
    gs=st.lists(groups(), max_size=25),
    adjs=st.lists(adjustments(), max_size=6),
    s1=share_sets(4),
    s2=share_sets(3),
)
def test_allocation_adds_up_to_charges_plus_adjustments(gs, adjs, s1, s2):
    splits = [
        Split("p1", P("2025-01"), P("2025-01"), tuple(s1)),
        Split("p1", P("2025-02"), None, tuple(s2), "source", "aws"),
        Split("p2", P("2025-01"), None, tuple(s2)),
    ]
    lines, proofs = build_lines(gs, adjs, splits, {"p3": ("pi3@x.edu", "F3")})
    assert all(p.balanced for p in proofs)
    for currency in {g["currency"] for g in gs} | {a.currency for a in adjs}:
        for amount in ("billed_cost", "effective_cost", "list_cost", "charged"):
            key = "billed_cost" if amount == "charged" else amount
            rounded = sum(
                (
                    round_minor(g[key] or Decimal(0))
                    for g in gs
                    if g["currency"] == currency and (amount != "charged" or g["cost_basis"] == "billed")
                ),
                Decimal(0),
            )
            if amount == "charged":
                rounded += sum(
                    (
                        round_minor(g["effective_cost"])
                        for g in gs
                        if g["currency"] == currency and g["cost_basis"] == "effective"
                    ),
                    Decimal(0),
                )
            # an adjustment's list price is its amount (one list-price rule everywhere)
            adj = sum((a.amount for a in adjs if a.currency == currency), Decimal(0))
            got = sum((getattr(x, amount) for x in lines if x.currency == currency), Decimal(0))
            assert got == rounded + adj
    # a registered project supplies the PI and fund a charge lacks
    assert all(x.fund_org and x.pi_email for x in lines if x.project_id == "p3")
    for x in lines:  # every line is in cents
        assert x.billed_cost == x.billed_cost.quantize(CENT)


def test_registry_snapshot_flags():
    from datetime import date

    from openchargeback.domain.registry import RegistrySnapshot

    snap = RegistrySnapshot(
        {"p1": ("pi@x.edu", "F1")}, {"F1": (date(2025, 1, 1), date(2025, 6, 30)), "F2": (None, None)}
    )
    assert snap.attribute(None, "p1", None) == ("pi@x.edu", "F1", [])
    assert snap.attribute("me@x.edu", "p1", "F2") == ("me@x.edu", "F2", [])
    assert snap.attribute(None, "p9", "F9") == (None, "F9", ["project_unknown", "fund_unknown"])
    assert snap.flags("p1", "F1", date(2025, 6, 30)) == []
    assert snap.flags("p1", "F1", date(2025, 7, 1)) == ["fund_expired"]
    assert snap.flags("p1", "F1", date(2024, 12, 31)) == ["fund_expired"]
    assert snap.flags("p9", "F2", date(2030, 1, 1)) == ["project_unknown"]
    assert RegistrySnapshot({}, {"F1": (None, date(2000, 1, 1))}).flags("p", "F9", date.today()) == []
