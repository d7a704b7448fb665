"""Storage reports and generic CSV through a mapping; the expression evaluator."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from openchargeback.convert.attribution import load_attribution
from openchargeback.convert.csvmap import CsvMapping, convert_csv, load_mapping
from openchargeback.convert.expr import Expression
from openchargeback.convert.focus_writer import FocusWriter
from openchargeback.convert.ratefile import load_checked
from openchargeback.convert.storage_usage import convert_storage
from openchargeback.domain.errors import FileRefused, InvalidInput
from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import price_lines

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data"
TABLE = load_checked(SAMPLES / "rates" / "rates.example.yaml")
AMAP = load_attribution(SAMPLES / "attribution" / "attribution.example.yaml")


def by_path(u):
    return {x.ref.resource_id: x for x in u.lines}


def test_daily_snapshots_are_averaged_over_the_month():
    u = convert_storage(SAMPLES / "convert" / "storage_2026-01.csv", table=TABLE, amap=AMAP)
    lines = by_path(u)
    # 12.5 TB + d x 10 GB on day d: the average over 31 days is 12.66 TB
    assert lines["/proj/genomics"].quantity == D("12.66")
    assert lines["/archive/genomics"].tier == "archive"
    # created on the 16th: 16 of 31 days at 2 TB
    assert lines["/proj/physics-scratch"].quantity == D("1.032258")
    assert lines["/proj/physics-scratch"].ref.unmapped == "path /proj/physics-scratch"
    assert lines["/proj/genomics"].project == "GEN-42"  # longest path prefix
    assert u.report.records == 109 and u.report.unmapped == {"path /proj/physics-scratch": 1}
    assert {x.period for x in u.lines} == {Period(2026, 1)}


def test_one_undated_json_snapshot_is_the_given_period():
    path = SAMPLES / "convert" / "storage_2026-01.json"
    with pytest.raises(InvalidInput, match="no dates; give the period"):
        convert_storage(path, table=TABLE, amap=AMAP)
    u = convert_storage(path, table=TABLE, amap=AMAP, period=Period(2026, 1))
    assert by_path(u)["/proj/genomics"].quantity == D("13.1")
    priced = {p.line.ref.resource_id: p for p in price_lines(TABLE, u.lines).lines}
    climate = priced["/proj/climate"]  # 2.9 TB x 8.00, 0.5 TB free, then 25 % of the rest
    assert climate.list_cost == D("23.2")
    assert [(g.subsidy, g.amount) for g in climate.grants] == [
        ("free-storage", D("4")),
        ("climate-startup", D("4.8")),
    ]
    assert climate.billed_cost == D("14.4")


def test_units_follow_the_tier_rate(tmp_path):
    t = load_checked(SAMPLES / "rates" / "rates.example.yaml")
    p = tmp_path / "r.csv"
    p.write_text("path,owner,bytes,tier\n/x,o,2147483648,gold\n")
    with pytest.raises(InvalidInput, match=r"on 2026-01-01 for storage/storage \(tier gold"):
        convert_storage(p, table=t, amap=AMAP, period=Period(2026, 1))


def test_bad_storage_records_are_named(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text(
        "path,owner,bytes,date\n/proj/climate,climate,12,2026-01-01\n/x,o,-5,2026-01-01\n"
        "/y,o,abc,2026-01-01\n/z,o,1,31/01/2026\n"
    )
    with pytest.raises(FileRefused) as e:
        convert_storage(p, table=TABLE, amap=AMAP)
    text = str(e.value)
    assert "r.csv:3: column bytes: '-5': expected a number of bytes of at least 0" in text
    assert "r.csv:4: column bytes: 'abc': expected a whole number of bytes" in text
    assert "r.csv:5: column date: '31/01/2026': expected a date such as 2025-01-31" in text
    assert "invalid literal" not in text
    u = convert_storage(p, table=TABLE, amap=AMAP, skip_invalid=True)
    assert u.report.used == 1


def test_json_report_shapes(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(
        json.dumps([{"Share": "/proj/climate", "Owner": "climate", "Bytes": 10**12, "Date": "2026-02-03"}])
    )
    u = convert_storage(p, table=TABLE, amap=AMAP)
    assert u.lines[0].quantity == D("1") and u.lines[0].period == Period(2026, 2)
    p.write_text(json.dumps({"a": [], "b": []}))
    with pytest.raises(InvalidInput, match="exactly one list"):
        convert_storage(p, table=TABLE, amap=AMAP)


def focus_rows(u) -> list[dict]:
    out = io.StringIO()
    with FocusWriter(out) as w:
        for r in u.rows:
            w.write(r)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_csv_mapping_with_expressions_constants_tags_and_attribution():
    m = load_mapping(SAMPLES / "convert" / "instrument_sessions.mapping.yaml")
    u = convert_csv(SAMPLES / "convert" / "instrument_sessions.csv", m, amap=AMAP)
    rows = focus_rows(u)
    assert [r["ResourceId"] for r in rows] == ["S-1001", "S-1002", "S-1003", "S-1004", "S-1005"]
    s2 = rows[1]
    assert (s2["ListCost"], s2["BilledCost"], s2["PricingQuantity"]) == ("101.25", "81.00", "2.25")
    assert s2["ServiceName"] == "Microscopy Core" and s2["BillingPeriodStart"] == "2026-01-01T00:00:00Z"
    assert json.loads(s2["Tags"]) == {
        "pi_email": "quib.flannister@example.edu",
        "project_id": "CLIM-7",
        "fund_org": "NSF-ATM-2024",
        "instrument": "Zeiss LSM 980",
    }
    assert json.loads(rows[3]["Tags"])["ocb_unmapped"] == "account neuro"
    assert u.report.unmapped == {"account neuro": 1}


def test_csv_mapping_priced_by_the_rate_table():
    m = load_mapping(SAMPLES / "convert" / "instrument_sessions.priced.yaml")
    u = convert_csv(SAMPLES / "convert" / "instrument_sessions.csv", m, amap=AMAP)
    priced = {p.line.ref.resource_id: p for p in price_lines(TABLE, u.lines).lines}
    assert priced["S-1003"].rate_class == "external" and priced["S-1003"].list_cost == D("440")
    assert priced["S-1002"].billed_cost == D("75.9375")  # 25 % climate-startup subsidy
    assert priced["S-1005"].line.resource == "training"


def test_csv_mapping_errors_name_the_file_and_what_is_wrong(tmp_path):
    with pytest.raises(InvalidInput, match="unknown section"):
        CsvMapping({"colums": {}}, "m.yaml")
    with pytest.raises(InvalidInput, match="give BilledCost"):
        CsvMapping({"columns": {"ResourceId": "id"}}, "m.yaml")
    with pytest.raises(InvalidInput, match="Costs not FOCUS columns"):
        CsvMapping({"expressions": {"Costs": "1"}}, "m.yaml")
    m = CsvMapping({"expressions": {"BilledCost": "hours * rate"}}, "m.yaml")
    p = tmp_path / "in.csv"
    p.write_text("hours,price\n1,2\n")
    with pytest.raises(InvalidInput, match=r"column\(s\) rate named in the mapping m.yaml are not in"):
        convert_csv(p, m, amap=AMAP, period=Period(2026, 1))
    p.write_text("hours,rate\n1,2\nx,2\n3,\n")
    with pytest.raises(FileRefused) as e:
        convert_csv(p, m, amap=AMAP, period=Period(2026, 1))
    assert "in.csv:3: column hours: 'x' is not a number" in str(e.value)
    assert "in.csv:4: column rate: '' is not a number" in str(e.value)
    with pytest.raises(InvalidInput, match="no period column; give --period"):
        convert_csv(p, m, amap=AMAP)


@pytest.mark.parametrize(
    "text,value",
    [
        ("hours * rate", D("7.5")),
        ("hours × rate", D("7.5")),
        ("-hours + 10", D("7.5")),
        ("round(hours / 3, 2)", D("0.83")),
        ("min(hours, rate, 9)", D("2.5")),
        ("max(hours, rate)", D("3")),
        ("abs(1 - rate)", D("2")),
        ("(hours + 0.5) * 2", D("6")),
        ("`unit price` * 2", D("2.20")),
        ("1.2e1", D("12")),
    ],
)
def test_expressions(text, value):
    assert Expression(text).evaluate({"hours": "2.5", "rate": "3", "unit price": "1.10"}) == value


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "hours.real",
        "hours ** 2",
        "open('x')",
        "hours[0]",
        "lambda: 1",
        "hours if 1 else 2",
        "",
        "1 +",
        "(1",
        "foo(1)",
        "round(1, 2, 3)",
    ],
)
def test_expressions_refuse_everything_else(text):
    with pytest.raises(InvalidInput):
        Expression(text, "m.yaml: expressions.BilledCost")


def test_expression_runtime_errors():
    e = Expression("a / b")
    with pytest.raises(ValueError, match="division by zero"):
        e.evaluate({"a": "1", "b": "0"})
    with pytest.raises(ValueError, match="binary float"):
        e.evaluate({"a": 1.5, "b": "1"})


def test_csv_row_without_a_cost_is_named(tmp_path):
    m = CsvMapping({"columns": {"BilledCost": "amount", "ResourceId": "id"}}, "m.yaml")
    p = tmp_path / "in.csv"
    p.write_text("id,amount\na,1.50\nb,\n")
    with pytest.raises(FileRefused, match="in.csv:3: no BilledCost"):
        convert_csv(p, m, amap=AMAP, period=Period(2026, 1))
