"""Journal: the exports of a period; admins and reviewers export any format (a background
job, followed on the page) and download earlier files, viewers see the list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from openchargeback.domain.errors import Conflict, InvalidInput
from openchargeback.services import jobs as bg
from openchargeback.services import journal as svc
from openchargeback.services import periods
from openchargeback.web.routes.common import ctx_for, period_of, see_other
from openchargeback.web.security import Reader, Reviewer, attachment, is_htmx
from openchargeback.web.templating import qs, render

router = APIRouter()
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xml": "application/xml",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}


@router.get("/journal")
def journal_page(request: Request, s: Reader, period: str | None = None, job: int | None = None):
    return _journal_page(request, s, period, job=job)


def _journal_page(request: Request, s, period: str | None, *, job=None, refused=None, asked=None):
    """The page; ``refused``: the error of the export just asked for (``asked``: its form);
    ``job``: an export's job, followed (a failed one's form as it was asked)."""
    ctx = ctx_for(request, s)
    shown = period_of(request, period)
    exports = svc.list_exports(ctx, shown) if shown else ()
    followed = bg.journal_job(ctx, job) if job else None
    if followed is not None and followed.status == "failed" and asked is None:
        asked = followed.params
    return render(
        request,
        "journal.html",
        {
            "period": shown,
            "status": periods.get_period(ctx, shown).status if shown else None,
            "exports": exports,
            "formats": svc.list_formats(ctx),
            "job": followed,
            "export": next((e for e in exports if e.id == _export_id(followed)), None),
            "error": refused.web if refused else None,
            "asked": asked or {},
        },
        status=refused.http_status if refused else 200,
    )


@router.post("/journal/export")
def journal_export(
    request: Request,
    s: Reviewer,
    period: Annotated[str, Form()],
    format: Annotated[str, Form()] = "gl",
    draft: Annotated[bool, Form()] = False,
    delta: Annotated[bool, Form()] = False,
    again: Annotated[bool, Form()] = False,
):
    try:
        job = bg.start_journal_export(
            ctx_for(request, s), period, format, draft=draft, delta=delta, again=again
        )
    except (Conflict, InvalidInput) as exc:  # said on the journal page, with the form as it was
        if is_htmx(request):
            raise
        asked = {"format": format, "draft": draft, "delta": delta, "again": again}
        return _journal_page(request, s, period, refused=exc, asked=asked)
    url = f"/journal?{qs(period=job.period, job=job.id)}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return see_other(url)


@router.get("/journal/jobs/{job_id}")
def journal_job(request: Request, s: Reader, job_id: int):
    ctx = ctx_for(request, s)
    job = bg.journal_job(ctx, job_id)
    export = svc.get_export(ctx, export_id) if (export_id := _export_id(job)) else None
    # the exports listed follow a job that just finished (they listen for this event)
    changed = {"HX-Trigger": "journal-changed"} if job.finished else None
    return render(request, "_journal_job.html", {"job": job, "export": export}, headers=changed)


def _export_id(job) -> int | None:
    """The export a finished job recorded."""
    return (job.result or {}).get("export_id") if job is not None and job.status == "done" else None


@router.get("/journal/exports/{export_id}/download")
def journal_download(request: Request, s: Reviewer, export_id: int):
    info, content = svc.export_file(ctx_for(request, s), export_id)
    ext = info.file_name.rsplit(".", 1)[-1].lower()
    return Response(
        content,
        media_type=MEDIA.get(ext, "text/plain; charset=utf-8"),
        headers={
            "Content-Disposition": attachment(info.file_name),
            "X-Content-SHA256": info.sha256,
        },
    )


@router.get("/journal/exports/{export_id}/control")
def journal_control(request: Request, s: Reviewer, export_id: int):
    """The export's control totals (file name, SHA-256, lines, debit and credit totals)."""
    name, content = svc.control_file(svc.get_export(ctx_for(request, s), export_id))
    return Response(content, media_type=MEDIA["csv"], headers={"Content-Disposition": attachment(name)})
