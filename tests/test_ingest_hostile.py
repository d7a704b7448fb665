"""Hostile files: what real exports and careless hands produce. Each is either stored
exactly or refused with a message that names file:line, column, value and what was
expected; a refused file leaves nothing behind. On SQLite and PostgreSQL."""

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
from openchargeback.services.ingest.history import get_import, list_imports
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.periods import list_periods
from openchargeback.services.reports import period_totals


def refused(ctx, path, **kw) -> FileRefused:
    """Ingest must refuse ``path`` and leave the database as it was."""
    before = [count_rows(ctx, t) for t in ("imports", "charges", "periods")]
    with pytest.raises(FileRefused) as exc:
        ingest(ctx, path, "aws", **kw)
    assert [count_rows(ctx, t) for t in ("imports", "charges", "periods")] == before
    assert "Traceback" not in str(exc.value)
    return exc.value


# -- bad values ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["12,34", "abc", "1.2.3", "NaN", "Infinity", "1_000", "$5.00",
                                 "0x10", "--1", "١٢"])
def test_bad_number_refuses_the_file_naming_line_column_value(ctx, tmp_path, bad):
    path = write_csv(tmp_path / "bad.csv", [row(cost="1.00"), row(BilledCost=bad), row()])
    err = refused(ctx, path)
    assert f"bad.csv:3: column BilledCost: {bad!r}: expected " in str(err)
    assert "nothing was imported" in str(err)
    assert [(p.line, p.column, p.value) for p in err.problems] == [(3, "BilledCost", bad)]


def test_bad_numbers_with_skip_invalid_are_recorded_on_the_import(ctx, tmp_path):
    rows = [row(cost="1.00"), row(BilledCost="abc"), row(cost="2.00"), row(ListCost="x", cost="5")]
    path = write_csv(tmp_path / "bad.csv", rows)
    result = ingest(ctx, path, "aws", skip_invalid=True)
    assert result.rows == 2 and result.skipped == 2
    detail = get_import(ctx, result.import_id)
    assert [(ln, col, v) for ln, col, v, _e in detail.problems] == [
        (3, "BilledCost", "abc"), (5, "ListCost", "x")]
    assert all("decimal number" in e for *_x, e in detail.problems)
    assert stored_totals(ctx, result.import_id)["BilledCost"] == Decimal("3.00")
    assert sorted(c.line for c in all_charges(ctx)) == [2, 4]


def test_more_than_twenty_problems_shows_twenty_and_a_count(ctx, tmp_path):
    rows = [row(BilledCost=f"bad{i}") for i in range(25)]
    err = refused(ctx, write_csv(tmp_path / "many.csv", rows))
    msg = str(err)
    assert "25 problem(s) in 25 row(s)" in msg
    assert "many.csv:21: column BilledCost: 'bad19'" in msg
    assert "'bad20'" not in msg
    assert "... and 5 more problem(s)" in msg
    assert len(err.problems) == 25


def test_missing_mandatory_billed_cost_value(ctx, tmp_path):
    err = refused(ctx, write_csv(tmp_path / "m.csv", [row(), row(BilledCost="NULL")]))
    assert "m.csv:3: column BilledCost: ''" in str(err)
    assert "BilledCost is mandatory" in str(err)


@pytest.mark.parametrize("column, value", [
    ("BillingPeriodStart", "2025-13-01"), ("BillingPeriodEnd", "tomorrow"),
    ("ChargePeriodStart", "01.05.2025"), ("ChargePeriodEnd", "2025-01-32T00:00:00Z")])
def test_bad_dates(ctx, tmp_path, column, value):
    err = refused(ctx, write_csv(tmp_path / "d.csv", [row(), row(**{column: value})]))
    assert f"d.csv:3: column {column}: {value!r}: expected a date" in str(err)


@pytest.mark.parametrize("column, value", [
    ("BillingPeriodStart", "0001-01-01"), ("BillingPeriodStart", "9999-12-01T00:00:00Z"),
    ("ChargePeriodStart", "0001-01-01T00:00:00+14:00"),
    ("ChargePeriodEnd", "9999-12-31T23:59:59-05:00"), ("BillingPeriodEnd", "1/1/1066")])
def test_dates_out_of_range(ctx, tmp_path, column, value):
    err = refused(ctx, write_csv(tmp_path / "far.csv", [row(), row(**{column: value})]))
    assert f"far.csv:3: column {column}: {value!r}: expected a date between the years 1900 " \
        "and 9998" in str(err)


@pytest.mark.parametrize("value", ["1e400", "-1e400", "9" * 70, "1e20"])
def test_absurdly_large_amounts(ctx, tmp_path, value):
    err = refused(ctx, write_csv(tmp_path / "huge.csv", [row(), row(EffectiveCost=value)]))
    assert f"huge.csv:3: column EffectiveCost: {value!r}: expected an amount within" in str(err)


@pytest.mark.parametrize("column, limit", [("ServiceName", 300), ("BillingCurrency", 16),
                                           ("ChargeCategory", 64), ("RegionId", 200)])
def test_overlong_descriptive_values_are_a_problem_on_every_backend(ctx, tmp_path, column, limit):
    header = HEADER + ([column] if column not in HEADER else [])
    rows = [row(**{column: "x" * limit}), row(**{column: "y" * (limit + 1)})]
    path = write_csv(tmp_path / "long.csv", rows, header)
    err = refused(ctx, path)
    assert [(p.line, p.column) for p in err.problems] == [(3, column)]
    assert f"expected text of at most {limit} characters" in str(err)
    assert ingest(ctx, path, "aws", skip_invalid=True).rows == 1


def test_billing_period_start_after_end(ctx, tmp_path):
    r = row(BillingPeriodStart="2025-02-01T00:00:00Z", BillingPeriodEnd="2025-01-01T00:00:00Z")
    err = refused(ctx, write_csv(tmp_path / "o.csv", [r]))
    assert "o.csv:2: column BillingPeriodStart" in str(err)
    assert "before BillingPeriodEnd" in str(err)


def test_bad_tags_json_and_non_object_tags(ctx, tmp_path):
    bad = ['{"pi_email": ', "[1, 2]", '"just text"', "42", "true", '{"a": {"b": 1}}',
           '{"a": [1]}', "{'single': 'quotes'}"]
    rows = [row()] + [row(tags=t) for t in bad] + [row(tags="null")]
    path = write_csv(tmp_path / "tags.csv", rows)
    err = refused(ctx, path)
    assert sorted(p.line for p in err.problems) == list(range(3, 3 + len(bad)))
    assert all(p.column == "Tags" and "JSON object" in p.expected for p in err.problems)
    assert "tags.csv:3: column Tags: '{\"pi_email\": '" in str(err)
    result = ingest(ctx, path, "aws", skip_invalid=True)
    assert result.rows == 2 and result.skipped == len(bad)
    charges = all_charges(ctx)
    assert [c.line for c in charges] == [2, 3 + len(bad)]
    # JSON null Tags is no tags: flagged, not refused
    assert charges[1].flags == ("missing_pi", "missing_project", "missing_fund_org")


def test_amount_beyond_the_ledger_range(ctx, tmp_path):
    err = refused(ctx, write_csv(tmp_path / "big.csv", [row(BilledCost="9223372.1")]))
    assert "big.csv:2: column BilledCost: '9223372.1': expected an amount within" in str(err)
    err = refused(ctx, write_csv(tmp_path / "neg.csv", [row(ListCost="-10000000")]))
    assert "column ListCost: '-10000000'" in str(err)
    ok = ingest(ctx, write_csv(tmp_path / "max.csv", [
        row(cost="9223372.036854775807"), row(cost="-9223372.036854775807")]), "aws")
    assert ok.rows == 2
    assert max(c.billed_cost for c in all_charges(ctx)) == Decimal("9223372.036854775807")
    assert money_sum_sql(ctx, "billed_cost") == 0


# -- encodings, line ends, compression, formats ------------------------------------------------

def test_bom_and_crlf(ctx, tmp_path):
    # the BOM sits in front of the first header name, which is a mandatory column
    path = write_csv(tmp_path / "bom.csv", [row(cost="1.25"), row(cost="2.50")],
                     newline="\r\n", bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfBillingPeriodStart")
    result = ingest(ctx, path, "aws")
    assert result.rows == 2
    assert get_import(ctx, result.import_id).columns["mapped"]["BillingPeriodStart"] == \
        "BillingPeriodStart"
    charges = all_charges(ctx)
    assert [c.resource_id for c in charges] == ["r-1", "r-1"]  # no stray \r
    assert all(c.tags and not c.tags.endswith("\r") for c in charges)
    assert stored_totals(ctx, result.import_id)["BilledCost"] == Decimal("3.75")


def test_crlf_line_numbers(ctx, tmp_path):
    path = write_csv(tmp_path / "crlf.csv", [row(), row(ResourceName="two\r\nlines"),
                                             row(BilledCost="x")], newline="\r\n")
    err = refused(ctx, path)
    assert [p.line for p in err.problems] == [5]


def test_gzip_csv(ctx, tmp_path):
    text = csv_text([row(cost="1.000000000001"), row(cost="-0.5", ChargeCategory="Credit")])
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    result = ingest(ctx, path, "aws")
    assert result.rows == 2
    detail = get_import(ctx, result.import_id)
    assert detail.format == "csv.gz"
    assert stored_totals(ctx, result.import_id)["BilledCost"] == Decimal("0.500000000001")


def test_gzip_with_multiline_values_and_a_bad_row(ctx, tmp_path):
    text = csv_text([row(ResourceName="a\nb"), row(BilledCost="oops")])
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    err = refused(ctx, path)
    assert "export.csv.gz:4: column BilledCost: 'oops'" in str(err)


def test_parquet_with_typed_columns(ctx, tmp_path):
    utc = UTC
    n = 4
    table = pa.table({
        "BillingPeriodStart": pa.array([datetime(2025, 1, 1, tzinfo=utc)] * n,
                                       pa.timestamp("us", tz="UTC")),
        "BillingPeriodEnd": pa.array([datetime(2025, 2, 1, tzinfo=utc)] * n,
                                     pa.timestamp("us", tz="UTC")),
        # naive: read as UTC
        "ChargePeriodStart": pa.array([datetime(2025, 1, 3, 12)] * n, pa.timestamp("ms")),
        # the same instant, written in another zone
        "ChargePeriodEnd": pa.array([datetime(2025, 1, 4, tzinfo=utc)] * n,
                                    pa.timestamp("ns", tz="America/New_York")),
        "BilledCost": pa.array([Decimal("1.1234567890"), Decimal("-2.5"), Decimal("0"),
                                Decimal("100.0000000001")], pa.decimal128(20, 10)),
        "EffectiveCost": pa.array([0.1, 0.2, 1e-7, None], pa.float64()),
        "ListCost": pa.array([1.5, 2.25, 3.0, 4.0], pa.float32()),
        "ContractedCost": pa.array([1, 2, 3, None], pa.int64()),
        "BillingCurrency": ["usd"] * n,
        "ServiceName": ["Compute", None, "Storage", "Compute"],
        "Tags": pa.array([[("pi_email", "a@x.edu"), ("project_id", "p"), ("fund_org", "f")],
                          None, [], [("Project_ID", "q")]], pa.map_(pa.string(), pa.string())),
        "x_Flag": pa.array([True, False, None, True]),
    })
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    result = ingest(ctx, path, "aws")
    assert result.rows == n and result.skipped == 0
    assert get_import(ctx, result.import_id).format == "parquet"
    charges = all_charges(ctx)
    assert [c.line for c in charges] == [2, 3, 4, 5]
    assert [c.billed_cost for c in charges] == [Decimal("1.1234567890"), Decimal("-2.5"), 0,
                                                Decimal("100.0000000001")]
    assert [c.effective_cost for c in charges] == [Decimal("0.1"), Decimal("0.2"),
                                                   Decimal("1E-7"), None]
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


def test_parquet_null_mandatory_cost_is_a_problem(ctx, tmp_path):
    table = pa.table({
        "BillingPeriodStart": ["2025-01-01T00:00:00Z"] * 3,
        "BillingPeriodEnd": ["2025-02-01T00:00:00Z"] * 3,
        "BilledCost": pa.array([Decimal("1"), None, Decimal("2")], pa.decimal128(10, 2)),
    })
    path = tmp_path / "nullcost.parquet"
    pq.write_table(table, path)
    err = refused(ctx, path)
    assert [(p.line, p.column) for p in err.problems] == [(3, "BilledCost")]


def test_not_utf8_names_the_line(ctx, tmp_path):
    text = csv_text([row(), row(ServiceName="caf\u00e9"), row()])
    path = tmp_path / "latin1.csv"
    path.write_bytes(text.encode("latin-1"))
    err = refused(ctx, path)
    assert "latin1.csv:3" in str(err)
    assert "UTF-8" in str(err)


def test_not_utf8_far_into_the_file_names_the_line(ctx, tmp_path):
    rows = [row(ResourceId=f"r-{i}") for i in range(3000)] + [row(ServiceName="\u00e9t\u00e9")]
    path = tmp_path / "late.csv"
    path.write_bytes(csv_text(rows).encode("latin-1"))
    err = refused(ctx, path)
    assert "late.csv:3002" in str(err) and "UTF-8" in str(err)


def test_empty_and_header_only_files(ctx, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty.csv is empty" in str(refused(ctx, empty))
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b"\n\n")
    assert "blank.csv" in str(refused(ctx, blank))
    header_only = write_csv(tmp_path / "header.csv", [], HEADER)
    result = ingest(ctx, header_only, "aws")
    assert result.status == "imported" and result.rows == 0
    assert count_rows(ctx, "charges") == 0


def test_not_a_parquet_file(ctx, tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 50)
    assert "broken.parquet: not a readable Parquet file" in str(refused(ctx, path))


def test_missing_file(ctx, tmp_path):
    err = refused(ctx, tmp_path / "nope.csv")
    assert "nope.csv: no such file" in str(err)


# -- CSV structure ------------------------------------------------------------------------

def test_quoted_commas_and_newlines_keep_values_and_line_numbers(ctx, tmp_path):
    rows = [
        row(ResourceName="a, b, and c", ResourceId="r-comma"),
        row(ResourceName="first line\nsecond line\nthird line", ResourceId="r-newline"),
        row(ResourceName='say "hi"', ResourceId="r-quote"),
        row(BilledCost="1,5"),  # starts on line 7 because of the 3-line record
        row(ResourceId="r-last"),
    ]
    path = write_csv(tmp_path / "q.csv", rows)
    err = refused(ctx, path)
    assert [(p.line, p.column, p.value) for p in err.problems] == [(7, "BilledCost", "1,5")]
    assert "q.csv:7: column BilledCost: '1,5'" in str(err)
    result = ingest(ctx, path, "aws", skip_invalid=True)
    assert result.rows == 4
    by_line = {c.line: c for c in all_charges(ctx)}
    assert sorted(by_line) == [2, 3, 6, 8]
    assert by_line[3].resource_id == "r-newline"
    assert by_line[8].resource_id == "r-last"
    assert get_import(ctx, result.import_id).problems[0][0] == 7


def test_quoted_values_are_stored_verbatim(ctx, tmp_path):
    rows = [row(ServiceName="Compute, GPU", ChargeCategory="usage",
                x_Note="multi\nline, \"quoted\"")]
    path = write_csv(tmp_path / "v.csv", rows, HEADER + ["x_Note"])
    ingest(ctx, path, "aws")
    (c,) = all_charges(ctx)
    assert c.service_name == "Compute, GPU"
    with ctx.engine.connect() as conn:
        from sqlalchemy import text

        extra, category = conn.execute(text(
            "SELECT c.extra, d.charge_category FROM charges c "
            "JOIN charge_details d ON d.id = c.detail_id")).one()
    assert json.loads(extra) == {"x_Note": 'multi\nline, "quoted"'}
    assert category == "Usage"  # enum case normalised


def test_blank_lines_are_ignored_and_counted_in_line_numbers(ctx, tmp_path):
    body = csv_text([row(cost="1"), row(cost="2"), row(BilledCost="bad")]).splitlines()
    # header, row, blank, row, blank, blank, bad row, blank
    text = "\n".join([body[0], body[1], "", body[2], "", "", body[3], ""]) + "\n"
    path = tmp_path / "blank.csv"
    path.write_text(text)
    err = refused(ctx, path)
    assert [p.line for p in err.problems] == [7]
    result = ingest(ctx, path, "aws", skip_invalid=True)
    assert result.rows == 2
    assert [c.line for c in all_charges(ctx)] == [2, 4]


def test_wrong_number_of_fields(ctx, tmp_path):
    body = csv_text([row(cost="1"), row(cost="2")]).splitlines()
    text = "\n".join([body[0], body[1], "only,three,fields", body[2] + ",extra"]) + "\n"
    path = tmp_path / "fields.csv"
    path.write_text(text)
    err = refused(ctx, path)
    assert [p.line for p in err.problems] == [3, 4]
    assert f"fields.csv:3: {len(HEADER)} fields as in the header, found 3" in str(err)
    assert f"found {len(HEADER) + 1}" in str(err)
    result = ingest(ctx, path, "aws", skip_invalid=True)
    assert result.rows == 1 and result.skipped == 2
    assert [ln for ln, *_ in get_import(ctx, result.import_id).problems] == [3, 4]


def test_control_characters_in_values_are_kept(ctx, tmp_path):
    rows = [row(ServiceName="a\x1fb", ResourceId="r\x1e\x1f"), row(ServiceName="\x1e1"),
            row(ServiceName="tab\tbell\x07")]
    result = ingest(ctx, write_csv(tmp_path / "ctl.csv", rows), "aws")
    assert result.rows == 3
    charges = all_charges(ctx)
    assert [c.service_name for c in charges] == ["a\x1fb", "\x1e1", "tab\tbell\x07"]
    assert charges[0].resource_id == "r\x1e\x1f"


def test_nul_characters_are_a_problem_of_their_row(ctx, tmp_path):
    rows = [row(), row(ServiceName="a\x00b"), row(ResourceId="\x00"), row(x_Team="t\x00"),
            row(tags='{"pi_email": "x\\u0000y"}'), row(cost="2")]
    path = write_csv(tmp_path / "nul.csv", rows, HEADER + ["x_Team"])
    err = refused(ctx, path)
    assert [(p.line, p.column) for p in err.problems] == [
        (3, "ServiceName"), (4, "ResourceId"), (5, "x_Team"), (6, "Tags")]
    assert "nul.csv:3: column ServiceName: 'a\ufffdb': expected text without NUL" in str(err)
    result = ingest(ctx, path, "aws", skip_invalid=True)
    assert result.rows == 2 and result.skipped == 4
    assert [c.line for c in all_charges(ctx)] == [2, 7]


# -- amounts ------------------------------------------------------------------------------

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


def test_thirteen_plus_decimals_round_half_even_and_are_counted(ctx, tmp_path):
    values = ["0.1234567890125", "0.1234567890135", "1e-13", "-0.00000000000050",
              "2.99999999999999999"]
    rounded = [Decimal("0.123456789012"), Decimal("0.123456789014"), Decimal(0), Decimal(0),
               Decimal(3)]
    rows = [row(BilledCost=v, EffectiveCost="1", ListCost="1", ContractedCost="1") for v in values]
    path = write_csv(tmp_path / "d13.csv", rows)
    result = ingest(ctx, path, "aws")
    assert result.rounded_values == len(values)
    assert [c.billed_cost for c in all_charges(ctx)] == rounded
    detail = get_import(ctx, result.import_id)
    assert detail.rounded_values == len(values)
    billed = next(t for t in detail.totals if t[1] == "BilledCost")
    assert billed[2] == sum((Decimal(v) for v in values), Decimal(0))  # the file's exact sum
    assert billed[3] == sum(rounded, Decimal(0))  # what is stored
    assert billed[2] != billed[3]
    effective = next(t for t in detail.totals if t[1] == "EffectiveCost")
    assert effective[2] == effective[3] == Decimal(len(values))


def test_negative_credits(ctx, tmp_path):
    rows = [row(cost="100.00"), row(cost="-25.50", ChargeCategory="Credit"),
            row(cost="-0.000000000001", ChargeCategory="credit"), row(cost="+3")]
    result = ingest(ctx, write_csv(tmp_path / "credit.csv", rows), "aws")
    assert stored_totals(ctx, result.import_id)["BilledCost"] == Decimal("77.499999999999")
    assert period_totals(ctx, "2025-01").totals.billed_cost == Decimal("77.499999999999")
    assert sorted(c.billed_cost for c in all_charges(ctx))[0] == Decimal("-25.50")


def test_identical_rows_are_both_kept(ctx, tmp_path):
    r = row(cost="7.25")
    result = ingest(ctx, write_csv(tmp_path / "twice.csv", [r, r, r]), "aws")
    assert result.rows == 3
    charges = all_charges(ctx)
    assert [c.line for c in charges] == [2, 3, 4]
    assert len({c.id for c in charges}) == 3
    assert period_totals(ctx, "2025-01").totals.billed_cost == Decimal("21.75")


def test_null_resource_id(ctx, tmp_path):
    rows = [row(ResourceId=""), row(ResourceId="NULL"), row(ResourceId="null"),
            row(ResourceId="Unassigned"), row(ResourceId="i-123")]
    result = ingest(ctx, write_csv(tmp_path / "nullres.csv", rows), "aws")
    assert result.rows == 5
    assert [c.resource_id for c in all_charges(ctx)] == [None, None, None, None, "i-123"]


def test_sums_independent_of_the_reader(ctx, tmp_path):
    rows = [row(cost=f"{i}.{i:012d}"[:15], ChargeCategory="Usage") for i in range(1, 40)]
    path = write_csv(tmp_path / "s.csv", rows)
    result = ingest(ctx, path, "aws")
    expected = file_sums(path)
    for column in COSTS:
        assert stored_totals(ctx, result.import_id)[column] == expected[column]


# -- other datasets and missing columns ------------------------------------------------------

@pytest.mark.parametrize("missing", ["BilledCost", "BillingPeriodStart", "BillingPeriodEnd"])
def test_missing_mandatory_column_names_it(ctx, tmp_path, missing):
    header = [h for h in HEADER if h != missing]
    err = refused(ctx, write_csv(tmp_path / "cols.csv", [row()], header))
    assert f"cols.csv: missing mandatory column {missing}" in str(err)


def test_contract_commitment_file_is_refused_naming_the_dataset(ctx, tmp_path):
    path = tmp_path / "commitments.csv"
    path.write_text("ContractCommitmentId,ContractId,ContractCommitmentCategory,ContractCommitmentCost,"
                    "BillingCurrency\ncc-1,c-1,Spend,1000,USD\n")
    err = refused(ctx, path)
    assert "commitments.csv is a FOCUS Contract Commitment file" in str(err)
    assert "cost-and-usage" in str(err)


def test_invoice_detail_file_is_refused_naming_the_dataset(ctx, tmp_path):
    path = tmp_path / "invoice.csv"
    path.write_text("InvoiceDetailId,InvoiceId,BillingCurrency,InvoiceAmount\nd1,i1,USD,5\n")
    assert "is a FOCUS Invoice Detail file" in str(refused(ctx, path))


def test_header_names_any_case_and_order(ctx, tmp_path):
    header = [h.upper() if i % 2 else h.lower() for i, h in enumerate(reversed(HEADER))]
    rows = [[row(cost="2.5")[h] for h in reversed(HEADER)]]
    result = ingest(ctx, write_csv(tmp_path / "case.csv", rows, header), "aws")
    assert result.rows == 1
    (c,) = all_charges(ctx)
    assert c.billed_cost == Decimal("2.5") and c.pi_email == "pi@example.edu"


def test_refused_file_does_not_create_periods(ctx, tmp_path):
    rows = [row(period="2031-05"), row(period="2031-06", BilledCost="x")]
    refused(ctx, write_csv(tmp_path / "p.csv", rows))
    assert list_periods(ctx) == [] and list_imports(ctx) == []


def test_bigquery_utc_suffix_is_read_as_utc():
    from openchargeback.focus.values import parse_datetime

    dt, date_only = parse_datetime("2026-01-01 00:00:00 UTC")
    assert dt.isoformat() == "2026-01-01T00:00:00+00:00" and not date_only


def test_long_tag_values_are_kept_whole(ctx, tmp_path):
    """AWS and Azure allow 256-character tag values; attribution keeps them whole."""
    long = "p" * 256
    tags = {"pi_email": "pi@example.edu", "project_id": long, "fund_org": "F" * 256,
            "reference_1": "r" * 290}
    ingest(ctx, write_csv(tmp_path / "long.csv", [row(tags=tags)]), "aws")
    (charge,) = all_charges(ctx)
    assert charge.project_id == long and charge.fund_org == "F" * 256
