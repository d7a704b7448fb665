"""Issue 14 end to end on a database: the list price is the statements' in every journal
format, a period in two currencies gives a statement per currency (whole yen) and a gl
refusal naming the currencies (the template route works), statement lines of a source
with a funded subsidy say who pays it, and `report subsidies` lists it by source, fund
and PI."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from focus_builders import row, write_csv
from openchargeback.domain.errors import InvalidInput
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.journal import export as svc
from openchargeback.services.statements.generation import generate

from .conftest import approve_all, close, journal_sources

TAGS = {"pi_email": "pi@example.edu", "project_id": "proj-1", "fund_org": "BIO-2024-001"}
STORAGE_FUNDED = {
    "sources": {
        "storage": {
            "debit_account": "7430",
            "subsidy_fund_org": "PROV-STOR-0101",
            "subsidy_account": "7920",
            "subsidy_description": "the Provost's storage initiative",
        }
    }
}


def _ready(ctx, tmp_path, rows, source="aws"):
    ingest(ctx, write_csv(tmp_path / f"{source}.csv", rows), source)
    approve_all(ctx)
    close(ctx)


def test_list_price_without_listcost_is_the_same_in_statements_and_every_journal(
    sqlite_url, make_journal_ctx, tmp_path
):
    ctx = make_journal_ctx(sqlite_url, statements={"output_dir": str(tmp_path / "statements")})
    rows = [
        row(cost="5.00", tags=TAGS, ListCost=""),  # no list price: the amount due
        row(cost="3.00", tags=TAGS, ListCost="4.50", ResourceId="r-2"),
        row(cost="-1.25", tags=TAGS, ListCost="", ChargeCategory="Credit", ResourceId="r-3"),
    ]
    _ready(ctx, tmp_path, rows)
    (statement,) = generate(ctx, "2025-01").statements
    assert (statement.list_total, statement.due_total) == (Decimal("8.25"), Decimal("6.75"))
    summary = svc.export_journal(ctx, "2025-01", "summary")
    (line,) = list(csv.DictReader(io.StringIO(Path(summary.path).read_text(encoding="utf-8"), newline="")))
    assert (line["list_cost"], line["charged"]) == ("8.25", "6.75")  # was 4.50 (ListCost missing counted 0)


def test_two_currencies_a_statement_each_and_gl_refused_with_one_message(
    sqlite_url, make_journal_ctx, tmp_path
):
    ctx = make_journal_ctx(sqlite_url, statements={"output_dir": str(tmp_path / "statements")})
    rows = [
        row(cost="19088.75", tags=TAGS, BillingCurrency="JPY"),  # 19,088.75 yen: 19,089 billed
        row(cost="10.005", tags=TAGS, ResourceId="r-2"),
    ]
    _ready(ctx, tmp_path, rows)
    result = generate(ctx, "2025-01")
    assert sorted((s.currency, s.due_total) for s in result.statements) == [
        ("JPY", Decimal("19089")),
        ("USD", Decimal("10.01")),
    ]
    with pytest.raises(InvalidInput) as e:
        svc.export_journal(ctx, "2025-01", "gl")
    assert "has charges in JPY, USD; the gl layout has no currency column" in e.value.message
    postings = svc.export_journal(ctx, "2025-01", "postings")  # the route: a template with Currency
    lines = list(csv.DictReader(io.StringIO(Path(postings.path).read_text(encoding="utf-8"), newline="")))
    debits = {r["Currency"]: r["Debit"] for r in lines if r["Debit"]}
    assert debits == {"JPY": "19089", "USD": "10.01"}  # whole yen, as the statement
    assert {t.currency: t.charged for t in postings.export.totals} == {
        "JPY": Decimal("19089"),
        "USD": Decimal("10.01"),
    }


def test_funded_subsidy_on_statement_lines_and_in_the_subsidies_report(
    sqlite_url, make_journal_ctx, tmp_path, run_cli
):
    from openchargeback.services import journal, reports
    from openchargeback.services.statements.lines import statement_rows

    ctx = make_journal_ctx(sqlite_url, journal=STORAGE_FUNDED)
    storage = {**TAGS, "project_id": "proj-2"}
    ingest(
        ctx, write_csv(tmp_path / "s.csv", [row(cost="45.00", ListCost="380.00", tags=storage)]), "storage"
    )
    _ready(ctx, tmp_path, [row(cost="10.00", ListCost="12.00", tags=TAGS)])
    with ctx.read() as conn:
        from openchargeback.services import lookup

        prow = lookup.period(conn, "2025-01")
        lines, _, _ = statement_rows(conn, prow, funded=journal.funded_subsidies(ctx.settings))
    marks = {(r["source"], r["subsidy_fund_org"], r["subsidy_description"]) for r in lines}
    assert marks == {("aws", None, None), ("storage", "PROV-STOR-0101", "the Provost's storage initiative")}
    from openchargeback.domain.statements import project_drafts

    docs = {ln["source"]: ln for d in project_drafts(lines, [], 10) for ln in d.data["lines"]}
    assert "subsidy_fund_org" not in docs["Amazon Web Services"]  # unchanged content without a funded subsidy
    assert (docs["Research Storage"]["subsidy_fund_org"], docs["Research Storage"]["discount"]) == (
        "PROV-STOR-0101",
        "335.00",
    )

    r = reports.subsidy_report(ctx, "2025-01")
    assert [(x.source, x.fund_org, x.pi_email, x.subsidy) for x in r.rows] == [
        ("aws", None, "pi@example.edu", Decimal("2.00")),  # not funded: a lower recovery
        ("storage", "PROV-STOR-0101", "pi@example.edu", Decimal("335.00")),
    ]
    assert [(t.currency, t.list_cost, t.charged, t.subsidy) for t in r.totals] == [
        ("USD", Decimal("392.00"), Decimal("55.00"), Decimal("337.00"))
    ]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        json.dumps({"database": {"url": sqlite_url}, "sources": journal_sources(), "journal": STORAGE_FUNDED})
    )
    code, out, err = run_cli("report", "subsidies", "--fiscal-year", "FY2025", "-c", cfg, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["label"] == "FY2025" and data["periods"] == ["2025-01"]
    assert data["totals"][0]["subsidy"] == "337.00"
    code, out, err = run_cli("report", "subsidies", "-p", "2025-01", "-c", cfg)
    assert code == 0 and "PROV-STOR-0101" in out and "not funded" in out and "335.00 USD" in out
    code, _, err = run_cli("report", "subsidies", "-c", cfg)
    assert code == 1 and "give a period" in err


WORKED = {
    "reference": "{statement}",
    "credit_reference": "OCB-{period}-{source}",
    "sources": {
        "aws": {"debit_account": "7410"},
        "hpc": {
            "debit_account": "7420",
            "subsidy_fund_org": "PROV-HPC-0100",
            "subsidy_account": "7920",
            "subsidy_description": "the Provost's HPC initiative",
        },
    },
}


def test_the_worked_example_of_the_docs(sqlite_url, make_journal_ctx, tmp_path, snapshot):
    """docs/admin-guide/journal.md's worked example is this run's gl file, line for line:
    one month, two sources, one split, one funded subsidy."""
    from openchargeback.services.registry import records as reg
    from openchargeback.services.registry.splits import set_split

    ctx = make_journal_ctx(sqlite_url, journal=WORKED, statements={"output_dir": str(tmp_path / "st")})
    ada = {"pi_email": "ada@example.edu", "project_id": "genomics", "fund_org": "BIO-2024-001"}
    ben = {"pi_email": "ben@example.edu", "project_id": "climate", "fund_org": "NSF-ATM-2024"}
    aws = [row(cost="1200.00", tags=ada), row(cost="800.00", tags=ben, ResourceId="r-2")]
    hpc = [row(cost="100.00", ListCost="400.00", tags=ada, ServiceName="Cluster", ResourceId="job-1")]
    ingest(ctx, write_csv(tmp_path / "aws.csv", aws), "aws")
    ingest(ctx, write_csv(tmp_path / "hpc.csv", hpc), "hpc")
    approve_all(ctx)
    for code in ("BIO-2024-001", "NSF-ATM-2024", "ENGR-STARTUP"):
        reg.add_record(ctx, "funds", {"code": code})
    reg.add_record(ctx, "pis", {"email": "ben@example.edu", "name": "Ben Okafor"})
    reg.add_record(ctx, "projects", {"project_id": "climate", "pi_email": "ben@example.edu"})
    set_split(ctx, "climate", [("NSF-ATM-2024", Decimal("75")), ("ENGR-STARTUP", Decimal("25"))], "2025-01")
    close(ctx)
    statements = generate(ctx, "2025-01").statements
    assert [(s.number, s.project_id, s.list_total, s.due_total) for s in statements] == [
        ("ST-202501-0001", "genomics", Decimal("1600.00"), Decimal("1300.00")),
        ("ST-202501-0002", "climate", Decimal("800.00"), Decimal("800.00")),
    ]
    r = svc.export_journal(ctx, "2025-01", "gl")
    text = Path(r.path).read_text(encoding="utf-8")
    snapshot("worked-example-gl.csv", text)
    doc = (Path(__file__).parents[2] / "docs" / "admin-guide" / "journal.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        assert line in doc, f"the worked example lacks {line!r}"
    control = Path(r.control_path).read_text(encoding="utf-8").splitlines()[1]
    assert control.endswith(",7,USD,2400.00,2400.00,2100.00") and "`...,7,USD,2400.00,2400.00,2100.00`" in doc
