"""Property tests (Hypothesis): stored totals equal the exact Decimal sums of the file,
digits beyond 12 places round half-even and are counted, and the reader never fails
on hostile cell text with anything but a refusal or a recorded problem."""

from __future__ import annotations

import csv
import itertools
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focus_builders import HEADER, all_charges, count_rows, row, write_csv
from openchargeback.domain.errors import FileRefused
from openchargeback.domain.money import from_picos, money, to_picos, to_str, total
from openchargeback.focus.reader import FocusFile, NeedsExactReader
from openchargeback.services.ingest.history import get_import
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.reports import period_totals

LIMIT = Decimal("9000000")
QUANTUM = Decimal("1e-12")
FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

amounts = st.decimals(min_value=-LIMIT, max_value=LIMIT, places=12, allow_nan=False, allow_infinity=False)
small = st.decimals(min_value=Decimal("-1"), max_value=Decimal("1"), places=12)


@st.composite
def written(draw, values=st.one_of(amounts, small, st.just(Decimal(0)))):
    """(value, text) in one of the forms exports use: plain, exponent, signs, padding."""
    d = draw(values)
    form = draw(st.sampled_from(["str", "fixed", "exp", "EXP", "plus", "padded", "normal"]))
    text = {
        "str": str(d),
        "fixed": format(d, "f"),
        "exp": format(d, "e"),
        "EXP": format(d, "E"),
        "plus": format(d, "+f"),
        "padded": f" {format(d, 'f')} ",
        "normal": str(d.normalize()),
    }[form]
    return d, text


_periods = itertools.count()


def next_period() -> str:
    """A fresh period per example, so each example's period totals are its own."""
    n = next(_periods)
    return f"{2001 + n // 12:04d}-{n % 12 + 1:02d}"


def amounts_file(tmp_path, values: list[tuple[Decimal, str]], period: str):
    rows = []
    for i, (_d, text) in enumerate(values):
        rev = values[-1 - i][1]
        rows.append(
            row(
                period,
                BilledCost=text,
                EffectiveCost=rev,
                ListCost=text,
                ContractedCost="" if i % 2 else text,
                ResourceId=f"{period}-{i}",
            )
        )
    return write_csv(tmp_path / f"amounts-{period}.csv", rows)


def check_amounts(ctx, tmp_path, values):
    period = next_period()
    path = amounts_file(tmp_path, values, period)
    result = ingest(ctx, path, "aws")
    assert result.status == "imported" and result.rows == len(values)
    assert result.rounded_values == 0
    exact = total(d for d, _t in values)
    contracted = total(d for i, (d, _t) in enumerate(values) if not i % 2)
    stored = {col: s for _c, col, _f, s in get_import(ctx, result.import_id).totals}
    assert stored["BilledCost"] == exact
    assert stored["EffectiveCost"] == exact
    assert stored["ListCost"] == exact
    assert stored["ContractedCost"] == contracted
    t = period_totals(ctx, period).totals
    assert (t.billed_cost, t.effective_cost, t.list_cost, t.contracted_cost) == (
        exact,
        exact,
        exact,
        contracted,
    )
    assert t.rows == len(values)


def test_stored_totals_equal_the_file_sqlite(sqlite_url, make_ctx, tmp_path):
    ctx = make_ctx(sqlite_url)

    @FAST
    @given(st.lists(written(), min_size=1, max_size=40))
    def check(values):
        check_amounts(ctx, tmp_path, values)

    check()
    assert count_rows(ctx, "imports") >= 30


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_stored_totals_equal_the_file_postgresql(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)

    @settings(FAST, max_examples=12)
    @given(st.lists(written(), min_size=1, max_size=25))
    def check(values):
        check_amounts(ctx, tmp_path, values)

    check()
    assert count_rows(ctx, "imports") >= 12


def test_large_periods_sum_exactly_on_sqlite(sqlite_url, make_ctx, tmp_path):
    """Many amounts near the per-line limit: the SQL sum must neither overflow 64 bits
    nor lose a picounit (SQLite sums split values)."""
    ctx = make_ctx(sqlite_url)
    big = Decimal("9223372.036854775807")
    rows = [row(cost=str(big - i)) for i in range(3000)]
    result = ingest(ctx, write_csv(tmp_path / "big.csv", rows), "aws")
    expected = total(big - i for i in range(3000))
    assert expected > Decimal(2**63 - 1) / 10**12  # beyond a single BIGINT of picounits
    assert period_totals(ctx, "2025-01").totals.billed_cost == expected
    assert {c: s for _x, c, _f, s in get_import(ctx, result.import_id).totals}["BilledCost"] == expected


def test_beyond_twelve_places_round_half_even_and_are_counted(sqlite_url, make_ctx, tmp_path):
    ctx = make_ctx(sqlite_url)
    long_decimals = st.decimals(
        min_value=Decimal("-1000"),
        max_value=Decimal("1000"),
        places=17,
        allow_nan=False,
        allow_infinity=False,
    )

    @FAST
    @given(st.lists(long_decimals, min_size=1, max_size=30))
    def check(values):
        period = next_period()
        rows = [
            row(
                period,
                BilledCost=format(d, "f"),
                EffectiveCost="1",
                ListCost="1",
                ContractedCost="1",
                ResourceId=f"{period}-{i}",
            )
            for i, d in enumerate(values)
        ]
        result = ingest(ctx, write_csv(tmp_path / f"r-{period}.csv", rows), "aws")
        rounded = [d.quantize(QUANTUM, rounding=ROUND_HALF_EVEN) for d in values]
        assert result.rounded_values == sum(r != d for r, d in zip(rounded, values, strict=True))
        detail = get_import(ctx, result.import_id)
        billed = next(t for t in detail.totals if t[1] == "BilledCost")
        assert billed[2] == total(values)  # the file's exact total is kept
        assert billed[3] == total(rounded)  # what the ledger holds
        assert [c.billed_cost for c in all_charges(ctx, period=period)] == rounded

    check()


# -- hostile cell text ----------------------------------------------------------------------------

TRICKY = [
    "",
    " ",
    "NULL",
    "null",
    "Null",
    "-2",
    "Unassigned",
    "1e400",
    "-1e400",
    "1e-400",
    "9" * 40,
    "NaN",
    "-Infinity",
    "١٢٣",
    "1_000",
    "0x1F",
    "1,5",
    "--1",
    "+",
    ".",
    "e5",
    "{}",
    "[]",
    "null",
    '{"a": 1}',
    '{"a": {"b": 2}}',
    '{"pi_email": "\\u0000"}',
    "{",
    "2025-01-01",
    "2025-01-31",
    "4/1/25",
    "13/45/25",
    "2025-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01",
    "\ufeff",
    "\x00",
    "\x1f",
    "\x1e1",
    "\r",
    "\n",
    "\r\n",
    '"',
    '""',
    ",",
    "=cmd",
    "Usage",
    "usage",
    "Ωmega",
    "😀",
]
cell = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=12),
    st.from_regex(r"[+-]?\d{0,8}(\.\d{0,16})?([eE][+-]?\d{1,3})?", fullmatch=True),
)
COLUMNS = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ChargeCategory",
    "ServiceName",
    "ResourceId",
    "PricingQuantity",
    "Tags",
    "x_Custom",
]


@st.composite
def hostile_rows(draw):
    n = draw(st.integers(min_value=1, max_value=8))
    out = []
    for _ in range(n):
        r = row(x_Custom="c", PricingQuantity="1")
        for col in draw(st.lists(st.sampled_from(COLUMNS), max_size=5, unique=True)):
            r[col] = draw(cell)
        out.append(r)
    return out


def records_in(path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for cells in csv.reader(fh) if cells) - 1


def test_reader_never_crashes_on_hostile_cells(tmp_path):
    counter = itertools.count()

    @settings(FAST, max_examples=60)
    @given(hostile_rows())
    def check(rows):
        path = write_csv(tmp_path / f"h{next(counter)}.csv", rows, HEADER + ["PricingQuantity", "x_Custom"])
        for exact in (False, True):
            f = FocusFile(path, batch_size=3, exact=exact)
            try:
                valid = sum(b.size for b in f.batches())
            except NeedsExactReader:
                assert not exact
                continue
            except FileRefused:
                return
            bad_lines = {p.line for p in f.problems}
            assert valid + len(bad_lines) == records_in(path)
            for p in f.problems:
                assert p.line >= 2 and p.expected
            return

    check()


def test_ingest_never_crashes_on_hostile_cells(sqlite_url, make_ctx, tmp_path):
    ctx = make_ctx(sqlite_url)
    counter = itertools.count()

    @FAST
    @given(hostile_rows())
    def check(rows):
        n = next(counter)
        for i, r in enumerate(rows):
            r["x_Custom"] = f"{n}-{i}-{r['x_Custom']}"  # each file distinct
        path = write_csv(tmp_path / f"i{n}.csv", rows, HEADER + ["PricingQuantity", "x_Custom"])
        before = count_rows(ctx, "charges")
        try:
            result = ingest(ctx, path, "aws", skip_invalid=True)
        except FileRefused:
            assert count_rows(ctx, "charges") == before
            return
        assert result.status == "imported"
        assert result.rows + result.skipped == records_in(path)
        assert count_rows(ctx, "charges") == before + result.rows
        assert len(get_import(ctx, result.import_id).problems) == result.problem_count

    check()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_ingest_never_crashes_on_hostile_cells_postgresql(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    counter = itertools.count()

    @settings(FAST, max_examples=15)
    @given(hostile_rows())
    def check(rows):
        n = next(counter)
        for i, r in enumerate(rows):
            r["x_Custom"] = f"{n}-{i}"
        path = write_csv(tmp_path / f"p{n}.csv", rows, HEADER + ["PricingQuantity", "x_Custom"])
        try:
            result = ingest(ctx, path, "aws", skip_invalid=True)
        except FileRefused:
            return
        assert result.rows + result.skipped == records_in(path)

    check()


# -- money itself -----------------------------------------------------------------------------


@FAST
@given(
    st.decimals(
        min_value=Decimal("-9223372.036854775807"), max_value=Decimal("9223372.036854775807"), places=12
    )
)
def test_picounits_round_trip(d):
    assert from_picos(to_picos(money(d))) == d
    assert Decimal(to_str(d)) == d


@FAST
@given(st.lists(st.decimals(min_value=-LIMIT, max_value=LIMIT, places=12), max_size=50))
def test_total_is_exact(values):
    assert total(values) == sum(values, Decimal(0))
    # beyond the default 28-digit context too
    huge = [Decimal("1e20"), *values, Decimal("1e-12")]
    assert total(huge) - Decimal("1e20") - Decimal("1e-12") == total(values)


def test_money_refuses_floats_and_junk():
    from openchargeback.domain.money import MoneyError

    for bad in (0.1, float("nan"), True, "abc", "NaN", "inf", None, "1e400"):
        with pytest.raises(MoneyError):
            money(bad)
    assert money("1.2e-7") == Decimal("0.00000012")
    assert money("0.1234567890125") == Decimal("0.123456789012")
    assert money("0.1234567890135") == Decimal("0.123456789014")
