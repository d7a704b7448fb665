"""Issue 15: journal exports and budget alert checks run as jobs, on SQLite and
PostgreSQL. Any process follows them; a refusal inside the job is its message; after its
worker died a budget check runs again (it is safe to repeat) and a journal export stays
interrupted (it may have been recorded)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from journal.conftest import approve_all, close, journal_sources, load_sample
from openchargeback.domain.errors import Conflict
from openchargeback.services import jobs
from openchargeback.services import journal as journal_svc
from openchargeback.services.jobs import queue
from openchargeback.services.registry import records as reg
from openchargeback.services.registry.budgets import list_alerts
from openchargeback.storage import jobs as repo
from registry.registry_helpers import charge, ingest_rows, registry


def _dead_claim(ctx, job_id: int) -> None:
    """The job claimed by a worker of this host that has died, its lease long past."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    past = ctx.clock() - timedelta(minutes=5)
    with ctx.write() as conn:
        row = repo.claim(conn, f"{queue.HOST}:{proc.pid}:gone", past, past + timedelta(seconds=5))
    assert row is not None and row.id == job_id


def test_a_journal_export_job_is_followed_from_another_process_and_refusals_are_said(
    db_url, make_journal_ctx
):
    """An open period is refused when the export is asked for; a source without its
    recovery fund/org, found while the journal is built, is the job's error."""
    sources = journal_sources(storage=None)
    ctx = make_journal_ctx(db_url, sources=sources)
    load_sample(ctx, sources=("aws", "storage"))
    approve_all(ctx)
    with pytest.raises(Conflict, match="period 2025-01 is open"):
        jobs.start_journal_export(ctx, "2025-01", "summary")
    assert queue.recent_jobs(ctx) == []
    close(ctx)
    other = make_journal_ctx(db_url, sources=sources)  # another process's view: its own engine
    job = jobs.start_journal_export(ctx, "2025-01", "summary")
    assert (job.kind, job.status, job.period, job.params["format"]) == (
        "journal.export",
        "queued",
        "2025-01",
        "summary",
    )
    assert jobs.journal_job(other, job.id).status == "queued"

    assert jobs.Worker(ctx).run_once()
    done = jobs.journal_job(other, job.id)
    (export,) = journal_svc.list_exports(other, "2025-01")
    assert done.status == "done" and done.result["export_id"] == export.id
    assert done.summary == f"exported {export.file_name}: {export.rows} row(s)"
    assert (done.progress, done.total) == (1, 1)

    gl = jobs.start_journal_export(ctx, "2025-01", "gl")
    assert jobs.Worker(ctx).run_once()
    refused = jobs.journal_job(other, gl.id)
    assert refused.status == "failed" and "source storage has no recovery fund/org" in refused.error, (
        refused.error
    )
    assert len(journal_svc.list_exports(ctx, "2025-01")) == 1


def test_a_budget_check_job_raises_each_alert_once(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, budgets={"alert_thresholds": [50, 100]})
    registry(ctx)
    ingest_rows(ctx, tmp_path, [charge("2025-01", "85.00", project_id="proj-1")])
    reg.edit_record(ctx, "projects", "proj-1", {"budget": "80", "budget_per": "period"})
    assert list_alerts(ctx) == ()  # the budget came after the import

    first = jobs.start_budget_check(ctx, "2025-01")
    assert jobs.Worker(ctx).run_once()
    first = jobs.budget_job(ctx, first.id)
    assert first.status == "done" and first.summary.startswith("2 new alert(s) for 2025-01"), first
    raised = list_alerts(ctx)
    assert sorted(a.threshold for a in raised) == [50, 100]
    assert sorted(first.result["raised"]) == sorted(a.id for a in raised)

    second = jobs.start_budget_check(ctx, "2025-01")
    assert jobs.Worker(ctx).run_once()
    assert jobs.budget_job(ctx, second.id).summary.startswith("0 new alert(s)")
    assert len(list_alerts(ctx)) == 2


def test_after_its_worker_died_a_budget_check_runs_again_and_a_journal_export_does_not(
    db_url, make_journal_ctx
):
    ctx = make_journal_ctx(db_url, jobs={"lease_seconds": 5})
    load_sample(ctx, sources=("aws",))
    approve_all(ctx)
    close(ctx)
    check = jobs.start_budget_check(ctx, "2025-01")
    _dead_claim(ctx, check.id)
    export = jobs.start_journal_export(ctx, "2025-01", "summary")
    _dead_claim(ctx, export.id)

    jobs.Worker(ctx).run_forever(until_idle=True)
    c, e = jobs.budget_job(ctx, check.id), jobs.journal_job(ctx, export.id)
    assert c.status == "done" and c.attempts == 2 and "queued again" in c.error
    assert e.status == "interrupted" and e.attempts == 1
    assert "look at the period's exports before exporting again" in e.error
    assert journal_svc.list_exports(ctx, "2025-01") == ()  # nothing ran it again
