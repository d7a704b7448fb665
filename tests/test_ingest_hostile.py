"""Hostile files: what real exports and careless hands produce. Each is either read
exactly or refused with a message that names file:line, column, value and what was
expected.

Parsing is tested once, on the reader (``focus.reader.FocusFile``, driven as ingest
drives it: the fast Arrow reader, then the exact csv reader when records span lines).
A few cases go through ingest into the database, on SQLite and PostgreSQL: a refused
file leaves nothing behind, skipped rows are recorded on the import, and what the reader
accepts is stored exactly (extreme amounts, long and odd text, typed Parquet columns).
What ingest adds above the reader (its refusal message, flags) runs on SQLite only."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from focus_builders import (
    COSTS,
    HEADER,
    all_charges,
    count_rows,
    csv_text,
    file_sums,
    money_sum_sql,
    row,
    stored_totals,
    write_csv,
)
from openchargeback.domain.errors import FileRefused
from openchargeback.domain.money import from_picos
from openchargeback.focus import columns as C
from openchargeback.focus.reader import FocusFile, NeedsExactReader
from openchargeback.services.ingest.history import get_import, list_imports
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.periods import list_periods
from openchargeback.services.reports import period_totals

# -- the reader, as ingest drives it -------------------------------------------------------


class Read:
    """What the reader made of a file: the valid rows (columns by FOCUS name) and the
    problems."""

    def __init__(self, path):
        for exact in (False, True):
            focus = FocusFile(path, exact=exact)
            try:
                self.batches = list(focus.batches())
            except NeedsExactReader:
                continue  # records span lines: read again with the csv module
            break
        self.focus = focus
        self.problems = focus.problems

    @property
    def where(self) -> list[tuple]:
        """(line, column, value) of each problem."""
        return [(p.line, p.column, p.value) for p in self.problems]

    @property
    def message(self) -> str:
        return "\n".join(p.describe(self.focus.name) for p in self.problems)

    @property
    def lines(self) -> list[int]:
        return [ln for b in self.batches for ln in b.lines]

    def column(self, name: str) -> list:
        out: list = []
        for b in self.batches:
            if name in C.MONEY_COLUMNS:
                out += [None if v is None else from_picos(v) for v in b.money[name].to_pylist()]
            elif name in C.ROW_STRING_COLUMNS:
                out += b.strings[name].to_pylist()
            elif name == "Tags":  # parsed
                out += [None if t is None else t[1] for t in b.tags.decode()]
            elif name == "Tags text":  # as stored
                out += [None if t is None else t[0] for t in b.tags.decode()]
            else:
                i = C.DETAIL_COLUMNS.index(name)
                out += [d[i] for d in b.details.decode()]
        return out


def read_refused(path) -> str:
    """The reader refuses the whole file; its message."""
    with pytest.raises(FileRefused) as exc:
        Read(path)
    assert "Traceback" not in str(exc.value)
    return str(exc.value)


def refused(ctx, path, **kw) -> FileRefused:
    """Ingest must refuse ``path`` and leave the database as it was."""
    before = [count_rows(ctx, t) for t in ("imports", "charges", "periods")]
    with pytest.raises(FileRefused) as exc:
        ingest(ctx, path, "aws", **kw)
    assert [count_rows(ctx, t) for t in ("imports", "charges", "periods")] == before
    assert "Traceback" not in str(exc.value)
    return exc.value


@pytest.fixture
def sqlite_ctx(sqlite_url, make_ctx):
    return make_ctx(sqlite_url)


# -- bad values (reader) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["12,34", "abc", "1.2.3", "NaN", "Infinity", "1_000", "$5.00", "0x10", "--1", "١٢"]
)
def test_bad_number_names_line_column_value(tmp_path, bad):
    got = Read(write_csv(tmp_path / "bad.csv", [row(cost="1.00"), row(BilledCost=bad), row()]))
    assert got.where == [(3, "BilledCost", bad)]
    assert f"bad.csv:3: column BilledCost: {bad!r}: expected " in got.message
    assert got.lines == [2, 4]


def test_missing_mandatory_billed_cost_value(tmp_path):
    got = Read(write_csv(tmp_path / "m.csv", [row(), row(BilledCost="NULL")]))
    assert "m.csv:3: column BilledCost: ''" in got.message
    assert "BilledCost is mandatory" in got.message


@pytest.mark.parametrize(
    "column, value",
    [
        ("BillingPeriodStart", "2025-13-01"),
        ("BillingPeriodEnd", "tomorrow"),
        ("ChargePeriodStart", "01.05.2025"),
        ("ChargePeriodEnd", "2025-01-32T00:00:00Z"),
    ],
)
def test_bad_dates(tmp_path, column, value):
    got = Read(write_csv(tmp_path / "d.csv", [row(), row(**{column: value})]))
    assert f"d.csv:3: column {column}: {value!r}: expected a date" in got.message


@pytest.mark.parametrize(
    "column, value",
    [
        ("BillingPeriodStart", "0001-01-01"),
        ("BillingPeriodStart", "9999-12-01T00:00:00Z"),
        ("ChargePeriodStart", "0001-01-01T00:00:00+14:00"),
        ("ChargePeriodEnd", "9999-12-31T23:59:59-05:00"),
        ("BillingPeriodEnd", "1/1/1066"),
    ],
)
def test_dates_out_of_range(tmp_path, column, value):
    got = Read(write_csv(tmp_path / "far.csv", [row(), row(**{column: value})]))
    assert (
        f"far.csv:3: column {column}: {value!r}: expected a date between the years 1900 "
        "and 9998" in got.message
    )


@pytest.mark.parametrize("value", ["1e400", "-1e400", "9" * 70, "1e20"])
def test_absurdly_large_amounts(tmp_path, value):
    got = Read(write_csv(tmp_path / "huge.csv", [row(), row(EffectiveCost=value)]))
    assert f"huge.csv:3: column EffectiveCost: {value!r}: expected an amount within" in got.message


def test_amounts_beyond_the_ledger_range(tmp_path):
    got = Read(
        write_csv(
            tmp_path / "big.csv",
            [row(BilledCost="9223372.1"), row(ListCost="-10000000"), row(cost="9223372.036854775807")],
        )
    )
    assert got.where == [(2, "BilledCost", "9223372.1"), (3, "ListCost", "-10000000")]
    assert "big.csv:2: column BilledCost: '9223372.1': expected an amount within" in got.message
    assert got.column("BilledCost") == [Decimal("9223372.036854775807")]


@pytest.mark.parametrize(
    "column, limit",
    [("ServiceName", 300), ("BillingCurrency", 16), ("ChargeCategory", 64), ("RegionId", 200)],
)
def test_overlong_descriptive_values_are_a_problem(tmp_path, column, limit):
    # the limits are the ledger's column widths: refused here, before any database sees them
    header = HEADER + ([column] if column not in HEADER else [])
    got = Read(
        write_csv(
            tmp_path / "long.csv", [row(**{column: "x" * limit}), row(**{column: "y" * (limit + 1)})], header
        )
    )
    assert [(p.line, p.column) for p in got.problems] == [(3, column)]
    assert f"expected text of at most {limit} characters" in got.message
    assert got.lines == [2]


def test_billing_period_start_after_end(tmp_path):
    r = row(BillingPeriodStart="2025-02-01T00:00:00Z", BillingPeriodEnd="2025-01-01T00:00:00Z")
    got = Read(write_csv(tmp_path / "o.csv", [r]))
    assert "o.csv:2: column BillingPeriodStart" in got.message
    assert "before BillingPeriodEnd" in got.message


def test_bad_tags_json_and_non_object_tags(tmp_path):
    bad = [
        '{"pi_email": ',
        "[1, 2]",
        '"just text"',
        "42",
        "true",
        '{"a": {"b": 1}}',
        '{"a": [1]}',
        "{'single': 'quotes'}",
    ]
    got = Read(write_csv(tmp_path / "tags.csv", [row()] + [row(tags=t) for t in bad] + [row(tags="null")]))
    assert sorted(p.line for p in got.problems) == list(range(3, 3 + len(bad)))
    assert all(p.column == "Tags" and "JSON object" in p.expected for p in got.problems)
    assert "tags.csv:3: column Tags: '{\"pi_email\": '" in got.message
    assert got.lines == [2, 3 + len(bad)]
    assert got.column("Tags")[1] is None  # JSON null Tags is no tags


# -- encodings, line ends, compression, formats (reader) -------------------------------------


def test_bom_and_crlf(tmp_path):
    # the BOM sits in front of the first header name, which is a mandatory column
    path = write_csv(tmp_path / "bom.csv", [row(cost="1.25"), row(cost="2.50")], newline="\r\n", bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfBillingPeriodStart")
    got = Read(path)
    assert got.problems == []
    assert got.focus.mapped["BillingPeriodStart"] == "BillingPeriodStart"
    assert got.column("ResourceId") == ["r-1", "r-1"]  # no stray \r
    assert all(t and not t.endswith("\r") for t in got.column("Tags text"))
    assert got.column("Tags")[1]["fund_org"] == "FUND-1"
    assert got.column("BilledCost") == [Decimal("1.25"), Decimal("2.50")]


def test_crlf_line_numbers(tmp_path):
    path = write_csv(
        tmp_path / "crlf.csv", [row(), row(ResourceName="two\r\nlines"), row(BilledCost="x")], newline="\r\n"
    )
    assert [p.line for p in Read(path).problems] == [5]


def test_gzip_csv(tmp_path):
    text = csv_text([row(cost="1.000000000001"), row(cost="-0.5", ChargeCategory="Credit")])
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    got = Read(path)
    assert got.focus.format == "csv.gz" and got.problems == []
    assert sum(got.column("BilledCost")) == Decimal("0.500000000001")


def test_gzip_with_multiline_values_and_a_bad_row(tmp_path):
    text = csv_text([row(ResourceName="a\nb"), row(BilledCost="oops")])
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    assert "export.csv.gz:4: column BilledCost: 'oops'" in Read(path).message


def test_parquet_null_mandatory_cost_is_a_problem(tmp_path):
    table = pa.table(
        {
            "BillingPeriodStart": ["2025-01-01T00:00:00Z"] * 3,
            "BillingPeriodEnd": ["2025-02-01T00:00:00Z"] * 3,
            "BilledCost": pa.array([Decimal("1"), None, Decimal("2")], pa.decimal128(10, 2)),
        }
    )
    path = tmp_path / "nullcost.parquet"
    pq.write_table(table, path)
    assert [(p.line, p.column) for p in Read(path).problems] == [(3, "BilledCost")]


def test_not_utf8_names_the_line(tmp_path):
    text = csv_text([row(), row(ServiceName="caf\u00e9"), row()])
    path = tmp_path / "latin1.csv"
    path.write_bytes(text.encode("latin-1"))
    msg = read_refused(path)
    assert "latin1.csv:3" in msg and "UTF-8" in msg


def test_not_utf8_far_into_the_file_names_the_line(tmp_path):
    rows = [row(ResourceId=f"r-{i}") for i in range(3000)] + [row(ServiceName="\u00e9t\u00e9")]
    path = tmp_path / "late.csv"
    path.write_bytes(csv_text(rows).encode("latin-1"))
    msg = read_refused(path)
    assert "late.csv:3002" in msg and "UTF-8" in msg


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty.csv is empty" in read_refused(empty)
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b"\n\n")
    assert "blank.csv" in read_refused(blank)
    header_only = Read(write_csv(tmp_path / "header.csv", [], HEADER))
    assert header_only.problems == [] and header_only.lines == []


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 50)
    assert "broken.parquet: not a readable Parquet file" in read_refused(path)


def test_missing_file(tmp_path):
    assert "nope.csv: no such file" in read_refused(tmp_path / "nope.csv")


# -- CSV structure (reader) ---------------------------------------------------------------------


def test_quoted_commas_and_newlines_keep_values_and_line_numbers(tmp_path):
    rows = [
        row(ResourceName="a, b, and c", ResourceId="r-comma"),
        row(ResourceName="first line\nsecond line\nthird line", ResourceId="r-newline"),
        row(ResourceName='say "hi"', ResourceId="r-quote"),
        row(BilledCost="1,5"),  # starts on line 7 because of the 3-line record
        row(ResourceId="r-last"),
    ]
    got = Read(write_csv(tmp_path / "q.csv", rows))
    assert got.where == [(7, "BilledCost", "1,5")]
    assert "q.csv:7: column BilledCost: '1,5'" in got.message
    assert got.lines == [2, 3, 6, 8]
    assert got.column("ResourceId") == ["r-comma", "r-newline", "r-quote", "r-last"]
    assert got.column("ResourceName")[:3] == [
        "a, b, and c",
        "first line\nsecond line\nthird line",
        'say "hi"',
    ]


def test_blank_lines_are_ignored_and_counted_in_line_numbers(tmp_path):
    body = csv_text([row(cost="1"), row(cost="2"), row(BilledCost="bad")]).splitlines()
    # header, row, blank, row, blank, blank, bad row, blank
    text = "\n".join([body[0], body[1], "", body[2], "", "", body[3], ""]) + "\n"
    path = tmp_path / "blank.csv"
    path.write_text(text)
    got = Read(path)
    assert [p.line for p in got.problems] == [7]
    assert got.lines == [2, 4]


def test_wrong_number_of_fields(tmp_path):
    body = csv_text([row(cost="1"), row(cost="2")]).splitlines()
    text = "\n".join([body[0], body[1], "only,three,fields", body[2] + ",extra"]) + "\n"
    path = tmp_path / "fields.csv"
    path.write_text(text)
    got = Read(path)
    assert [p.line for p in got.problems] == [3, 4]
    assert f"fields.csv:3: {len(HEADER)} fields as in the header, found 3" in got.message
    assert f"found {len(HEADER) + 1}" in got.message
    assert got.lines == [2]


# -- amounts (reader) -------------------------------------------------------------------------


def test_thirteen_plus_decimals_round_half_even_and_are_counted(tmp_path):
    values = ["0.1234567890125", "0.1234567890135", "1e-13", "-0.00000000000050", "2.99999999999999999"]
    rounded = [Decimal("0.123456789012"), Decimal("0.123456789014"), Decimal(0), Decimal(0), Decimal(3)]
    rows = [row(BilledCost=v, EffectiveCost="1", ListCost="1", ContractedCost="1") for v in values]
    got = Read(write_csv(tmp_path / "d13.csv", rows))
    stats = got.focus.stats
    assert stats.rounded_values == len(values)
    assert got.column("BilledCost") == rounded
    exact = sum((Decimal(v) for v in values), Decimal(0))
    assert stats.file_totals[("USD", "BilledCost")] == exact  # the file's exact sum
    assert from_picos(stats.totals[("USD", "BilledCost")]) == sum(rounded, Decimal(0))  # stored
    assert exact != sum(rounded, Decimal(0))
    assert stats.file_totals[("USD", "EffectiveCost")] == Decimal(len(values))


def test_null_resource_id(tmp_path):
    rows = [
        row(ResourceId=""),
        row(ResourceId="NULL"),
        row(ResourceId="null"),
        row(ResourceId="Unassigned"),
        row(ResourceId="i-123"),
    ]
    assert Read(write_csv(tmp_path / "nullres.csv", rows)).column("ResourceId") == [
        None,
        None,
        None,
        None,
        "i-123",
    ]


def test_sums_independent_of_the_reader(tmp_path):
    rows = [row(cost=f"{i}.{i:012d}"[:15], ChargeCategory="Usage") for i in range(1, 40)]
    path = write_csv(tmp_path / "s.csv", rows)
    stats = Read(path).focus.stats
    expected = file_sums(path)
    for column in COSTS:
        assert from_picos(stats.totals[("USD", column)]) == expected[column]


# -- other datasets and missing columns (reader) -------------------------------------------------


@pytest.mark.parametrize("missing", ["BilledCost", "BillingPeriodStart", "BillingPeriodEnd"])
def test_missing_mandatory_column_names_it(tmp_path, missing):
    header = [h for h in HEADER if h != missing]
    msg = read_refused(write_csv(tmp_path / "cols.csv", [row()], header))
    assert f"cols.csv: missing mandatory column {missing}" in msg


def test_contract_commitment_file_is_refused_naming_the_dataset(tmp_path):
    path = tmp_path / "commitments.csv"
    path.write_text(
        "ContractCommitmentId,ContractId,ContractCommitmentCategory,ContractCommitmentCost,"
        "BillingCurrency\ncc-1,c-1,Spend,1000,USD\n"
    )
    msg = read_refused(path)
    assert "commitments.csv is a FOCUS Contract Commitment file" in msg
    assert "cost-and-usage" in msg


def test_invoice_detail_file_is_refused_naming_the_dataset(tmp_path):
    path = tmp_path / "invoice.csv"
    path.write_text("InvoiceDetailId,InvoiceId,BillingCurrency,InvoiceAmount\nd1,i1,USD,5\n")
    assert "is a FOCUS Invoice Detail file" in read_refused(path)


def test_header_names_any_case_and_order(tmp_path):
    header = [h.upper() if i % 2 else h.lower() for i, h in enumerate(reversed(HEADER))]
    rows = [[row(cost="2.5")[h] for h in reversed(HEADER)]]
    got = Read(write_csv(tmp_path / "case.csv", rows, header))
    assert got.problems == []
    assert got.column("BilledCost") == [Decimal("2.5")]
    assert got.column("Tags")[0]["pi_email"] == "pi@example.edu"


def test_bigquery_utc_suffix_is_read_as_utc():
    from openchargeback.focus.values import parse_datetime

    dt, date_only = parse_datetime("2026-01-01 00:00:00 UTC")
    assert dt.isoformat() == "2026-01-01T00:00:00+00:00" and not date_only


# -- what ingest adds above the reader (SQLite) --------------------------------------------------


def test_more_than_twenty_problems_shows_twenty_and_a_count(sqlite_ctx, tmp_path):
    rows = [row(BilledCost=f"bad{i}") for i in range(25)]
    err = refused(sqlite_ctx, write_csv(tmp_path / "many.csv", rows))
    msg = str(err)
    assert "25 problem(s) in 25 row(s)" in msg
    assert "many.csv:21: column BilledCost: 'bad19'" in msg
    assert "'bad20'" not in msg
    assert "... and 5 more problem(s)" in msg
    assert len(err.problems) == 25


def test_rows_with_bad_tags_skipped_and_null_tags_flagged(sqlite_ctx, tmp_path):
    bad = ['{"pi_email": ', "[1, 2]", "42"]
    path = write_csv(tmp_path / "tags.csv", [row()] + [row(tags=t) for t in bad] + [row(tags="null")])
    result = ingest(sqlite_ctx, path, "aws", skip_invalid=True)
    assert result.rows == 2 and result.skipped == len(bad)
    charges = all_charges(sqlite_ctx)
    assert [c.line for c in charges] == [2, 3 + len(bad)]
    # JSON null Tags is no tags: flagged, not refused
    assert charges[1].flags == ("missing_pi", "missing_project", "missing_fund_org")


def test_header_only_file_is_an_empty_import(sqlite_ctx, tmp_path):
    result = ingest(sqlite_ctx, write_csv(tmp_path / "header.csv", [], HEADER), "aws")
    assert result.status == "imported" and result.rows == 0
    assert count_rows(sqlite_ctx, "charges") == 0


# -- database round-trips, on SQLite and PostgreSQL -------------------------------------------


def test_a_refused_file_leaves_nothing_behind(ctx, tmp_path):
    rows = [row(period="2031-05"), row(period="2031-06", BilledCost="x")]
    err = refused(ctx, write_csv(tmp_path / "p.csv", rows))
    assert "p.csv:3: column BilledCost: 'x': expected " in str(err)
    assert "nothing was imported" in str(err)
    assert [(p.line, p.column, p.value) for p in err.problems] == [(3, "BilledCost", "x")]
    assert list_periods(ctx) == [] and list_imports(ctx) == []


def test_bad_numbers_with_skip_invalid_are_recorded_on_the_import(ctx, tmp_path):
    rows = [row(cost="1.00"), row(BilledCost="abc"), row(cost="2.00"), row(ListCost="x", cost="5")]
    path = write_csv(tmp_path / "bad.csv", rows)
    result = ingest(ctx, path, "aws", skip_invalid=True)
    assert result.rows == 2 and result.skipped == 2
    detail = get_import(ctx, result.import_id)
    assert [(ln, col, v) for ln, col, v, _e in detail.problems] == [
        (3, "BilledCost", "abc"),
        (5, "ListCost", "x"),
    ]
    assert all("decimal number" in e for *_x, e in detail.problems)
    assert stored_totals(ctx, result.import_id)["BilledCost"] == Decimal("3.00")
    assert sorted(c.line for c in all_charges(ctx)) == [2, 4]


def test_descriptive_values_at_their_limit_are_stored_whole(ctx, tmp_path):
    header = HEADER + ["RegionId"]
    rows = [
        row(ServiceName="s" * 300, BillingCurrency="c" * 16, ChargeCategory="k" * 64, RegionId="r" * 200),
        row(ServiceName="t" * 301),
    ]
    result = ingest(ctx, write_csv(tmp_path / "long.csv", rows, header), "aws", skip_invalid=True)
    assert result.rows == 1 and result.skipped == 1
    (charge,) = all_charges(ctx)
    assert charge.service_name == "s" * 300


def test_long_tag_values_are_kept_whole(ctx, tmp_path):
    """AWS and Azure allow 256-character tag values; attribution keeps them whole."""
    long = "p" * 256
    tags = {"pi_email": "pi@example.edu", "project_id": long, "fund_org": "F" * 256, "reference_1": "r" * 290}
    ingest(ctx, write_csv(tmp_path / "long.csv", [row(tags=tags)]), "aws")
    (charge,) = all_charges(ctx)
    assert charge.project_id == long and charge.fund_org == "F" * 256


def test_amounts_at_the_edge_of_the_ledger_range(ctx, tmp_path):
    ok = ingest(
        ctx,
        write_csv(
            tmp_path / "max.csv", [row(cost="9223372.036854775807"), row(cost="-9223372.036854775807")]
        ),
        "aws",
    )
    assert ok.rows == 2
    assert max(c.billed_cost for c in all_charges(ctx)) == Decimal("9223372.036854775807")
    assert money_sum_sql(ctx, "billed_cost") == 0


def test_twelve_decimals_are_exact(ctx, tmp_path):
    values = ["0.123456789012", "-0.000000000001", "999999.999999999999", "1.2e-7", "5E-12"]
    path = write_csv(tmp_path / "d12.csv", [row(cost=v) for v in values])
    result = ingest(ctx, path, "aws")
    assert result.rounded_values == 0
    expected = sum((Decimal(v) for v in values), Decimal(0))
    assert stored_totals(ctx, result.import_id)["BilledCost"] == expected
    assert [c.billed_cost for c in all_charges(ctx)] == [Decimal(v) for v in values]
    assert money_sum_sql(ctx, "effective_cost") == expected
    assert period_totals(ctx, "2025-01").totals.list_cost == expected


def test_negative_credits_and_identical_rows(ctx, tmp_path):
    same = row(cost="7.25")
    rows = [
        row(cost="100.00"),
        row(cost="-25.50", ChargeCategory="Credit"),
        row(cost="-0.000000000001", ChargeCategory="credit"),
        row(cost="+3"),
        same,
        same,
    ]
    result = ingest(ctx, write_csv(tmp_path / "credit.csv", rows), "aws")
    assert result.rows == 6  # identical rows are all kept
    expected = Decimal("77.499999999999") + 2 * Decimal("7.25")
    assert stored_totals(ctx, result.import_id)["BilledCost"] == expected
    assert period_totals(ctx, "2025-01").totals.billed_cost == expected
    charges = all_charges(ctx)
    assert sorted(c.billed_cost for c in charges)[0] == Decimal("-25.50")
    assert len({c.id for c in charges}) == 6


def test_quoted_values_are_stored_verbatim(ctx, tmp_path):
    rows = [row(ServiceName="Compute, GPU", ChargeCategory="usage", x_Note='multi\nline, "quoted"')]
    path = write_csv(tmp_path / "v.csv", rows, HEADER + ["x_Note"])
    ingest(ctx, path, "aws")
    (c,) = all_charges(ctx)
    assert c.service_name == "Compute, GPU"
    with ctx.engine.connect() as conn:
        from sqlalchemy import text

        extra, category = conn.execute(
            text(
                "SELECT c.extra, d.charge_category FROM charges c JOIN charge_details d ON d.id = c.detail_id"
            )
        ).one()
    assert json.loads(extra) == {"x_Note": 'multi\nline, "quoted"'}
    assert category == "Usage"  # enum case normalised


def test_control_characters_in_values_are_kept(ctx, tmp_path):
    rows = [
        row(ServiceName="a\x1fb", ResourceId="r\x1e\x1f"),
        row(ServiceName="\x1e1"),
        row(ServiceName="tab\tbell\x07"),
    ]
    result = ingest(ctx, write_csv(tmp_path / "ctl.csv", rows), "aws")
    assert result.rows == 3
    charges = all_charges(ctx)
    assert [c.service_name for c in charges] == ["a\x1fb", "\x1e1", "tab\tbell\x07"]
    assert charges[0].resource_id == "r\x1e\x1f"


def test_nul_characters_are_a_problem_of_their_row(ctx, tmp_path):
    # PostgreSQL cannot store a NUL: the reader makes it a problem of its row on every backend
    rows = [
        row(),
        row(ServiceName="a\x00b"),
        row(ResourceId="\x00"),
        row(x_Team="t\x00"),
        row(tags='{"pi_email": "x\\u0000y"}'),
        row(cost="2"),
    ]
    path = write_csv(tmp_path / "nul.csv", rows, HEADER + ["x_Team"])
    err = refused(ctx, path)
    assert [(p.line, p.column) for p in err.problems] == [
        (3, "ServiceName"),
        (4, "ResourceId"),
        (5, "x_Team"),
        (6, "Tags"),
    ]
    assert "nul.csv:3: column ServiceName: 'a\ufffdb': expected text without NUL" in str(err)
    result = ingest(ctx, path, "aws", skip_invalid=True)
    assert result.rows == 2 and result.skipped == 4
    assert [c.line for c in all_charges(ctx)] == [2, 7]


def test_parquet_with_typed_columns(ctx, tmp_path):
    utc = UTC
    n = 4
    table = pa.table(
        {
            "BillingPeriodStart": pa.array(
                [datetime(2025, 1, 1, tzinfo=utc)] * n, pa.timestamp("us", tz="UTC")
            ),
            "BillingPeriodEnd": pa.array(
                [datetime(2025, 2, 1, tzinfo=utc)] * n, pa.timestamp("us", tz="UTC")
            ),
            # naive: read as UTC
            "ChargePeriodStart": pa.array([datetime(2025, 1, 3, 12)] * n, pa.timestamp("ms")),
            # the same instant, written in another zone
            "ChargePeriodEnd": pa.array(
                [datetime(2025, 1, 4, tzinfo=utc)] * n, pa.timestamp("ns", tz="America/New_York")
            ),
            "BilledCost": pa.array(
                [Decimal("1.1234567890"), Decimal("-2.5"), Decimal("0"), Decimal("100.0000000001")],
                pa.decimal128(20, 10),
            ),
            "EffectiveCost": pa.array([0.1, 0.2, 1e-7, None], pa.float64()),
            "ListCost": pa.array([1.5, 2.25, 3.0, 4.0], pa.float32()),
            "ContractedCost": pa.array([1, 2, 3, None], pa.int64()),
            "BillingCurrency": ["usd"] * n,
            "ServiceName": ["Compute", None, "Storage", "Compute"],
            "Tags": pa.array(
                [
                    [("pi_email", "a@x.edu"), ("project_id", "p"), ("fund_org", "f")],
                    None,
                    [],
                    [("Project_ID", "q")],
                ],
                pa.map_(pa.string(), pa.string()),
            ),
            "x_Flag": pa.array([True, False, None, True]),
        }
    )
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    result = ingest(ctx, path, "aws")
    assert result.rows == n and result.skipped == 0
    assert get_import(ctx, result.import_id).format == "parquet"
    charges = all_charges(ctx)
    assert [c.line for c in charges] == [2, 3, 4, 5]
    assert [c.billed_cost for c in charges] == [
        Decimal("1.1234567890"),
        Decimal("-2.5"),
        0,
        Decimal("100.0000000001"),
    ]
    assert [c.effective_cost for c in charges] == [Decimal("0.1"), Decimal("0.2"), Decimal("1E-7"), None]
    assert [c.contracted_cost for c in charges] == [1, 2, 3, None]
    assert all(c.charge_period_start == datetime(2025, 1, 3, 12, tzinfo=utc) for c in charges)
    assert all(c.charge_period_end == datetime(2025, 1, 4, tzinfo=utc) for c in charges)
    assert {c.currency for c in charges} == {"USD"}
    assert (charges[0].pi_email, charges[0].project_id, charges[0].fund_org) == ("a@x.edu", "p", "f")
    assert charges[0].flags == ()
    assert charges[3].project_id == "q"
    assert charges[1].tags is None
    totals = stored_totals(ctx, result.import_id)
    assert totals["BilledCost"] == Decimal("98.6234567891")
    assert totals["EffectiveCost"] == Decimal("0.3000001")
    assert totals["ListCost"] == Decimal("10.75")
