"""Generating statements on both backends: approved charges only (pending and rejected
reported), a closed period required, dry runs that write nothing, stable numbers,
versions (sent statements never overwritten), finalized periods re-rendered only."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from openchargeback.domain.errors import Conflict
from openchargeback.domain.money import round_minor
from openchargeback.services.periods import change_status
from openchargeback.services.statements import reading as views
from openchargeback.services.statements.generation import generate
from openchargeback.storage.statement_tables import statements as statements_table

from .conftest import approved_due, close, load_sample, review_some
from .pdf_text import check_statement_pdf, usd


def _count(ctx) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(statements_table)).scalar_one()


@pytest.fixture
def sample(db_url, make_stmt_ctx):
    ctx = make_stmt_ctx(db_url)
    load_sample(ctx)
    reviewed = review_some(ctx)
    return ctx, reviewed


def test_generate_from_approved_charges_only(sample):
    ctx, reviewed = sample
    with pytest.raises(Conflict, match="2025-01 is open; close it"):
        generate(ctx, "2025-01")
    close(ctx)
    result = generate(ctx, "2025-01")
    assert not result.dry_run and result.status == "closed"
    assert result.rejected.count == 1 and result.rejected.amounts == (("USD", reviewed["rejected"][1]),)
    assert result.pending.count == 1 and result.pending.amounts == (("USD", reviewed["pending"][1]),)
    expected = approved_due(ctx, "2025-01")
    got = {(s.pi_email, s.project_id, s.currency): s.due_total for s in result.statements}
    assert set(got) == set(expected)
    for key, due in expected.items():
        assert got[key] == round_minor(due), key  # to the cent
    assert dict(result.approved_totals)["USD"] == sum(got.values())
    assert result.count("new") == len(expected) == _count(ctx)
    numbers = [s.number for s in result.statements]
    assert len(set(numbers)) == len(numbers) and all(n.startswith("RC-202501-") for n in numbers)
    for s in result.statements:  # the PDFs say the same
        data = views.get_statement(ctx, s.number).data
        text = check_statement_pdf(Path(s.path).read_bytes(), data)
        assert usd(round_minor(expected[(s.pi_email, s.project_id, s.currency)])) in text


def test_dry_run_writes_nothing_and_previews_in_a_temporary_directory(sample, tmp_path):
    ctx, _ = sample
    result = generate(ctx, "2025-01", dry_run=True, project="climate-modeling")  # on an open period
    assert result.dry_run and result.status == "open"
    assert _count(ctx) == 0
    assert not (tmp_path / "out").exists()
    previews = sorted(Path(result.directory).glob("*.pdf"))
    assert len(previews) == len(result.statements) == 1
    assert not Path(result.directory).is_relative_to(tmp_path / "out")
    assert {s.action for s in result.statements} == {"preview"}


def test_regenerating_keeps_numbers_and_versions_changed_statements(sample):
    ctx, reviewed = sample
    project = reviewed["rejected"][2]
    close(ctx)
    (old,) = generate(ctx, "2025-01", project=project).statements
    again = generate(ctx, "2025-01", project=project)
    assert [s.action for s in again.statements] == ["unchanged"]
    assert _count(ctx) == 1

    # The statement was sent; then the rejected charge is approved: the statement changes.
    from openchargeback.services import review as review

    with ctx.engine.begin() as conn:
        conn.execute(statements_table.update().values(sent_at=ctx.clock()))
    change_status(ctx, "2025-01", "reopen", "approve a charge")
    review.approve(ctx, "2025-01", review.Selection(ids=(reviewed["rejected"][0],)), note="ours after all")
    close(ctx)
    (s,) = generate(ctx, "2025-01", project=project).statements
    assert s.action == "new_version"
    assert s.number == old.number and s.version == 2
    assert s.due_total == old.due_total + reviewed["rejected"][1]
    # The sent version is kept, downloadable and marked superseded.
    versions = views.get_statement(ctx, s.number, 1)
    assert [v.status for v in versions.versions] == ["superseded", "current"]
    assert versions.row.sent_at is not None
    name, pdf = views.statement_file(ctx, s.number, 1)
    assert name == f"{s.number}-v1.pdf" and pdf == Path(old.path).read_bytes()
    assert "superseded" in views.preview_html(ctx, s.number, 1)
    assert "replaces version 1" in views.preview_html(ctx, s.number)
    assert len(views.list_statements(ctx, "2025-01")) == 1
    assert len(views.list_statements(ctx, "2025-01", all_versions=True)) == 2


def test_a_statement_with_nothing_left_is_withdrawn(sample):
    ctx, _ = sample
    close(ctx)
    (target,) = generate(ctx, "2025-01", project="exoplanet-survey").statements
    from openchargeback.storage.tables import charges

    with ctx.engine.begin() as conn:
        conn.execute(
            charges.update()
            .where(charges.c.project_id == "exoplanet-survey")
            .values(review="rejected", review_note="t", reviewed_by="t", reviewed_at=ctx.clock())
        )
    again = generate(ctx, "2025-01", project="exoplanet-survey")
    gone = [s for s in again.statements if s.action == "withdrawn"]
    assert [s.number for s in gone] == [target.number]
    assert views.get_statement(ctx, target.number).row.status == "withdrawn"


def test_pi_and_project_filters_and_pi_summaries(db_url, make_stmt_ctx):
    ctx = make_stmt_ctx(db_url, statements={"per_pi_summary": True})
    load_sample(ctx)
    close(ctx)
    only = generate(ctx, "2025-01", pi="zorp.blinkman@example.edu")
    kinds = sorted((s.kind, s.project_id or "") for s in only.statements)
    assert kinds == [("pi", ""), ("project", "genomics-sequencing"), ("project", "protein-folding-ml")]
    summary = next(s for s in only.statements if s.kind == "pi")
    assert summary.due_total == sum(s.due_total for s in only.statements if s.kind == "project")
    detail = views.get_statement(ctx, summary.number)
    assert {p["number"] for p in detail.data["projects"]} == {
        s.number for s in only.statements if s.kind == "project"
    }
    again = generate(ctx, "2025-01", pi="zorp.blinkman@example.edu")
    assert {s.action for s in again.statements} == {"unchanged"}
    one = generate(ctx, "2025-01", project="genomics-sequencing")  # no summary of part of a PI
    assert [(s.project_id, s.action) for s in one.statements] == [("genomics-sequencing", "unchanged")]


def test_finalized_period_renders_nothing_and_restores_its_files_from_the_database(sample, tmp_path):
    ctx, _ = sample
    close(ctx)
    first = generate(ctx, "2025-01", project="ocean-circulation")
    change_status(ctx, "2025-01", "finalize")
    for p in (tmp_path / "out" / "2025-01").glob("*.pdf"):
        p.unlink()
    again = generate(ctx, "2025-01")
    assert {s.action for s in again.statements} == {"unchanged"}
    assert [(s.number, s.version) for s in again.statements] == [
        (s.number, s.version) for s in first.statements
    ]
    assert _count(ctx) == len(first.statements)
    for s in again.statements:
        assert Path(s.path).read_bytes() == views.statement_file(ctx, s.number)[1]
    assert again.notes and "finalized" in again.notes[0] and "restored" in again.notes[1]


def test_stored_content_is_the_document(sample):
    ctx, _ = sample
    close(ctx)
    (s,) = generate(ctx, "2025-01", project="climate-modeling").statements
    d = views.get_statement(ctx, s.number)
    content = d.data
    assert content["number"] == s.number and content["period"]["name"] == "2025-01"
    assert Decimal(content["totals"]["due"]) == s.due_total
    assert any(ln["fully_subsidised"] for ln in content["lines"])  # HPC is 100 % subsidised
    assert json.loads(json.dumps(d.as_json(), default=str))["number"] == s.number


def test_december_sample_adds_up_to_the_cent_and_shows_subsidies(db_url, make_stmt_ctx):
    ctx = make_stmt_ctx(db_url)
    load_sample(ctx, "2025-12")
    close(ctx, "2025-12")
    result = generate(ctx, "2025-12")
    expected = approved_due(ctx, "2025-12")
    assert {(s.pi_email, s.project_id, s.currency): s.due_total for s in result.statements} == {
        k: round_minor(v) for k, v in expected.items()
    }
    subsidised = 0
    for s in result.statements:
        data = views.get_statement(ctx, s.number).data
        text = check_statement_pdf(Path(s.path).read_bytes(), data)
        for line in data["lines"]:
            if line["fully_subsidised"]:  # list price, a 100 % subsidy and nothing due
                subsidised += 1
                assert "FULLY SUBSIDISED" in text.upper() and "100 %" in text
                assert usd(line["list"]) in text
    assert subsidised > 0
