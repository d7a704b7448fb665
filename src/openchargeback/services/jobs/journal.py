"""A period's journal export as a job (the web's Export button), with its result.

The export is the ordinary service (one transaction that records the export with its
file): what it refuses before building anything is refused when the job is asked for;
a refusal met while building (a source without its recovery fund, or one that arose
meanwhile) is the job's error, in the words of the web. It is not repeated when its
worker died: the export may have been committed just before, and a second run of an
export made with "Again" would post the period twice; the interruption says to look at
the period's exports first.
"""

from __future__ import annotations

from openchargeback.domain.periods import Period
from openchargeback.services.context import Context
from openchargeback.services.jobs import queue
from openchargeback.services.jobs.kinds import Kind, Progress
from openchargeback.services.jobs.queue import JobView
from openchargeback.services.journal.export import check_export, export_journal

KINDS = ("journal.export",)


def start_journal_export(
    ctx: Context, period: str, fmt: str, *, draft: bool = False, delta: bool = False, again: bool = False
) -> JobView:
    """Queue the export of ``period``'s journal in format ``fmt`` (recorded, downloadable;
    no file written on the server); returns the job. What the export would refuse before
    building anything (an open period, postings exported before) is refused here."""
    name = Period.parse(period).name
    check_export(ctx, name, fmt, draft=draft, delta=delta, again=again)
    params = {"period": name, "format": fmt, "draft": draft, "delta": delta, "again": again}
    with ctx.write() as conn:
        job_id = queue.enqueue_in(conn, ctx, "journal.export", params, period=name)
    queue.wake_local_workers(ctx)
    return queue.get_job(ctx, job_id)


def journal_job(ctx: Context, job_id: int) -> JobView:
    return queue.get_job(ctx, job_id, kinds=KINDS)


def _export(ctx: Context, params: dict, progress: Progress) -> dict:
    progress(0, 1)
    r = export_journal(
        ctx,
        params["period"],
        params["format"],
        draft=params["draft"],
        delta=params["delta"],
        again=params["again"],
        write=False,
    )
    progress(1, 1)
    e = r.export
    return {
        "export_id": e.id,
        "summary": f"exported {e.file_name}: {e.rows} row(s)"
        + ("" if e.format in ("standard", "summary") else (", balanced" if e.balanced else ", NOT BALANCED"))
        + "".join(f"; {n}" for n in r.notes),
    }


EXPORT = Kind(
    _export,
    repeatable=False,
    interrupted="the export may have been recorded just before: look at the period's exports "
    "before exporting again",
)
