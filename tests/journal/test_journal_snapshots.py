"""Snapshots of every built-in format (and the packaged template) for the sample data,
the same on both backends; and the journal's total is the statements' total."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openchargeback.services.journal import export as svc

from .conftest import (
    DEBIT_ACCOUNTS,
    SAMPLE_SOURCES,
    approve_all,
    close,
    gl_sums,
    journal_sources,
    load_sample,
    read_gl,
)

FORMATS = (("standard", "csv"), ("summary", "csv"), ("gl", "csv"), ("postings", "csv"))


@pytest.fixture
def sample_ctx(db_url, make_journal_ctx):
    ctx = make_journal_ctx(db_url)
    load_sample(ctx, sources=SAMPLE_SOURCES)
    approve_all(ctx)
    close(ctx)
    return ctx


def test_every_format_of_the_sample(sample_ctx, snapshot):
    for fmt, ext in FORMATS:
        # (the packaged template posts the same postings as gl: a second posting, on purpose)
        r = svc.export_journal(sample_ctx, "2025-01", fmt, again=fmt == "postings")
        with open(r.path, "rb") as fh:
            content = fh.read()
        assert b"\r\n" in content or fmt == "postings"  # CSV writer line ends (the template writes \n)
        snapshot(f"sample-{fmt}.{ext}", content.decode("utf-8"))
    draft = svc.export_journal(sample_ctx, "2025-01", "gl", draft=True)
    with open(draft.path, "rb") as fh:
        snapshot("sample-gl-draft.csv", fh.read().decode("utf-8"))


def test_journal_total_is_the_statements_total(sqlite_url, make_journal_ctx, tmp_path):
    from openchargeback.services.statements.generation import generate

    ctx = make_journal_ctx(sqlite_url, statements={"output_dir": str(tmp_path / "statements")})
    load_sample(ctx, sources=SAMPLE_SOURCES)
    approve_all(ctx)
    close(ctx)
    statements = generate(ctx, "2025-01")
    r = svc.export_journal(ctx, "2025-01", "gl")
    with open(r.path, "rb") as fh:
        _, rows = read_gl(fh.read())
    debit, credit = gl_sums(rows)
    assert dict(statements.approved_totals) == {"USD": debit} == {"USD": credit}
    per_project = {}
    for s in statements.statements:
        per_project[s.project_id] = per_project.get(s.project_id, Decimal(0)) + s.due_total
    summary = svc.export_journal(ctx, "2025-01", "summary")
    with open(summary.path, encoding="utf-8") as fh:
        lines = [ln.split(",") for ln in fh.read().splitlines()[1:]]
    mine = {}
    for ln in lines:
        mine[ln[2]] = mine.get(ln[2], Decimal(0)) + Decimal(ln[7])
    assert mine == per_project  # project by project


def _edge(ctx, tmp_path, rows):
    from focus_builders import write_csv
    from openchargeback.services.ingest.loading import ingest
    from openchargeback.services.statements.generation import generate

    ingest(ctx, write_csv(tmp_path / "aws.csv", rows), "aws")
    approve_all(ctx)
    close(ctx)
    statements = dict(generate(ctx, "2025-01").approved_totals).get("USD", Decimal(0))
    return statements, svc.export_journal(ctx, "2025-01", "gl").export.totals[0].charged


TAGS = {"pi_email": "pi@example.edu", "project_id": "proj-1", "fund_org": "BIO-2024-001"}


def test_statements_and_journal_round_at_the_same_grain(sqlite_url, make_journal_ctx, tmp_path):
    """Usage, tax and a credit of one service with sub-cent amounts: one statement line
    per kind on the statement, one rounding of the service line in the allocation."""
    from focus_builders import row

    ctx = make_journal_ctx(sqlite_url, statements={"output_dir": str(tmp_path / "statements")})
    rows = [
        row(cost="0.004", tags=TAGS),
        row(cost="0.004", tags=TAGS, ChargeCategory="Tax", ResourceId="r-2"),
        row(cost="10.004", tags=TAGS, ResourceId="r-3"),
        row(cost="-3.006", tags=TAGS, ResourceId="r-4", ChargeCategory="Credit"),
    ]
    statements, journal = _edge(ctx, tmp_path, rows)
    assert statements == journal == Decimal("7.01")


def test_effective_basis_without_effective_cost(sqlite_url, make_journal_ctx, tmp_path):
    from focus_builders import row

    sources = [dict(s, cost_basis="effective") if s["name"] == "aws" else s for s in journal_sources()]
    ctx = make_journal_ctx(
        sqlite_url, sources=sources, statements={"output_dir": str(tmp_path / "statements")}
    )
    rows = [row(cost="10.00", tags=TAGS), row(cost="5.00", tags=TAGS, EffectiveCost="", ResourceId="r-2")]
    statements, journal = _edge(ctx, tmp_path, rows)
    assert statements == journal == Decimal("15.00")  # the row without EffectiveCost costs its billed


ACCOUNTING = {
    # debit lines trace to their statement; credit lines name the source
    "reference": "{statement}",
    "credit_reference": "OCB-{period}-{source}",
    # descriptions "{source} {period} {project}" cut at 35 characters on a word boundary:
    # "it_storage 2025-01", never "it_storage 2025-01 alzheimers-bioma"
    "sources": {
        **DEBIT_ACCOUNTS["sources"],
        "hpc": {"debit_account": "7420", "subsidy_fund_org": "PROV-HPC-0100", "subsidy_account": "7920"},
        "storage": {
            "debit_account": "7430",
            "service_accounts": {"Research Storage - Archive": "7435"},
            "subsidy_fund_org": "PROV-STOR-0101",
            "subsidy_account": "7920",
            "subsidy_description": "the Provost's storage initiative",
        },
    },
}


def test_gl_with_debit_accounts_statement_references_and_funded_subsidies(
    sqlite_url, make_journal_ctx, tmp_path, snapshot
):
    """The gl file an accountant posts: each PI fund debited on its source's (or service's)
    expense account and traced to its statement, each source's recovery credited at list
    price, the subsidies debited to the funds that pay for them."""
    from openchargeback.services.statements.generation import generate

    ctx = make_journal_ctx(
        sqlite_url, journal=ACCOUNTING, statements={"output_dir": str(tmp_path / "statements")}
    )
    load_sample(ctx, sources=SAMPLE_SOURCES)
    approve_all(ctx)
    close(ctx)
    statements = generate(ctx, "2025-01").statements
    r = svc.export_journal(ctx, "2025-01", "gl")
    with open(r.path, "rb") as fh:
        content = fh.read()
    snapshot("sample-gl-accounting.csv", content.decode("utf-8"))
    _, rows = read_gl(content)
    numbers = {s.number for s in statements}
    debits = [x for x in rows if x["Debit"] and not x["Fund"].startswith(("RC", "IT", "PROV"))]
    assert debits and all(x["Reference"] in numbers for x in debits)  # each traces to a statement
    assert all(len(x["Description"]) <= 35 for x in rows)
    assert "it_storage 2025-01" in {x["Description"] for x in rows}
    recovery = {x["Reference"]: Decimal(x["Credit"]) for x in rows if x["Credit"] and x["Fund"] == "RC"}
    assert recovery["OCB-2025-01-hpc"] == Decimal("8200.00")  # at list: hpc bills nothing
    assert recovery["OCB-2025-01-storage"] == Decimal("380.00")
    subsidies = {x["Orgn"]: Decimal(x["Debit"]) for x in rows if x["Fund"] == "PROV"}
    assert subsidies == {"HPC-0100": Decimal("8200.00"), "STOR-0101": Decimal("335.00")}
    assert {x["Account"] for x in rows if x["Fund"] == "PROV"} == {"7920"}
    debit, credit = gl_sums(rows)
    assert debit == credit
    with open(r.control_path, encoding="utf-8") as fh:
        control = fh.read().splitlines()
    assert control[0] == "file_name,sha256,lines,currency,debit_total,credit_total,charged_total"
    assert control[1] == f"{r.export.file_name},{r.export.sha256},{len(rows)},USD,{debit},{credit},20227.00"
