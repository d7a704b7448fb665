"""Chart axes and the dashboard's changes: round ticks in the site's locale, exact
amounts on hover, changes against the previous period (issue 17)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openchargeback.services.insights import change
from openchargeback.web import charts


@pytest.mark.parametrize(
    ("peak", "expected"),
    [
        ("18800", ["0", "5000", "10000", "15000", "20000"]),  # was $6.3K / $12.5K / $18.8K
        ("12345.67", ["0", "5000", "10000", "15000"]),
        ("999", ["0", "200", "400", "600", "800", "1000"]),
        ("0.37", ["0", "0.1", "0.2", "0.3", "0.4"]),
        ("0", ["0", "1"]),
    ],
)
def test_ticks_are_round(peak, expected):
    assert [str(t) for t in charts.ticks(Decimal(peak))] == expected


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e12"), places=2))
def test_ticks_cover_the_peak_in_steps_of_1_2_or_5(peak):
    t = charts.ticks(peak)
    step = t[1] - t[0]
    assert t[0] == 0 and t[-1] >= peak > t[-2]
    assert all(b - a == step for a, b in zip(t, t[1:], strict=False))
    assert step.normalize().as_tuple().digits in ((1,), (2,), (5,))
    assert 3 <= len(t) <= 6


def _axis(svg: str) -> list[str]:
    return re.findall(r'<text class="axis-label" x="56" [^>]*>([^<]*)</text>', svg)


def test_tick_labels_follow_the_site_locale_and_hover_is_exact():
    values = [Decimal("12345.678"), Decimal("18800")]
    us = charts.stacked_bars("t", ["2025-01", "2025-02"], [("Amazon", values)], "USD")
    assert _axis(us) == ["$0", "$5K", "$10K", "$15K", "$20K"]
    assert "2025-01 · Amazon: $12,345.68</title>" in us  # to the cent on hover
    de = charts.stacked_bars("t", ["2025-01"], [("A", [Decimal("1500")])], "EUR", locale="de_DE")
    assert _axis(de) == ["0\u00a0€", "500\u00a0€", "1000\u00a0€", "1500\u00a0€"]
    assert "A: 1.500,00\u00a0€" in de
    ja = charts.stacked_bars("t", ["2025-01"], [("A", [Decimal("14000")])], "JPY", locale="ja_JP")
    assert _axis(ja)[-2:] == ["￥1万", "￥1.5万"]


def test_bars_link_to_their_charges_and_say_what_they_are():
    svg = charts.stacked_bars(
        "t",
        ["2025-01"],
        [("Amazon Web Services", [Decimal("5")]), ("(none)", [Decimal("1")])],
        "USD",
        href=lambda si, i: charts.charges_link(period="2025-01", source=["aws", None][si]),
    )
    assert (
        '<a href="/charges?period=2025-01&amp;source=aws" aria-label="2025-01 · Amazon Web Services: $5.00">'
        in svg
    )
    assert svg.count("<a ") == 1  # a series without a value to filter on is not a link


def test_series_past_the_sixth_are_summed_as_other_without_a_link():
    series = [(f"s{i}", [Decimal(10 - i)]) for i in range(8)]
    svg = charts.stacked_bars("t", ["2025-01"], series, "USD", href=lambda si, i: f"/charges?source=s{si}")
    assert svg.count("<a ") == 5 and "s4" in svg and 'source=s5"' not in svg
    assert "2025-01 · other: $12.00" in svg  # 5 + 4 + 3


@pytest.mark.parametrize(
    ("now", "before", "amount", "percent"),
    [
        ("110", "100", "10", "10.0"),
        ("90", "100", "-10", "-10.0"),
        ("100", "300", "-200", "-66.7"),
        ("1", "3", "-2", "-66.7"),
        ("2", "3", "-1", "-33.3"),
        ("0.05", "-0.10", "0.15", "150.0"),  # a credit before: the change is against its size
        (7, 5, "2", "40.0"),  # counts (PIs, projects)
    ],
)
def test_change_against_the_previous_period(now, before, amount, percent):
    c = change(
        Decimal(now) if isinstance(now, str) else now, Decimal(before) if isinstance(before, str) else before
    )
    assert (c.amount, c.percent, c.new) == (Decimal(amount), Decimal(percent), False)


@pytest.mark.parametrize("before", [None, Decimal(0), 0])
def test_change_is_new_when_nothing_came_before(before):
    c = change(Decimal("12.50"), before)
    assert c.new and c.percent is None and c.amount == Decimal("12.50")
