"""Statements: generate a period's statements (a background job with progress), the list
with preview (the statement's own template) and PDF download, send one or all unsent
(a background job), and the email log: each recipient's outcome, resend, and the decisions
on an in-doubt message."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from openchargeback.domain.errors import Conflict, InvalidInput, OpenChargebackError
from openchargeback.services import jobs as bg
from openchargeback.services import periods, statements
from openchargeback.web.routes.common import blank, ctx_for, job_progress, job_started, period_of, see_other
from openchargeback.web.security import PeriodAdmin, Reader, attachment, is_htmx
from openchargeback.web.templating import qs, render

router = APIRouter()
# The preview is the statement's own document (its stylesheet is inline, as in the PDF):
# styles allowed inline, nothing else, no script at all.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@router.get("/statements")
def statements_page(
    request: Request, s: Reader, period: str | None = None, all_versions: bool = False, job: int | None = None
):
    return _statements_page(request, s, period, all_versions=all_versions)


def _statements_page(
    request: Request,
    s,
    period: str | None,
    *,
    all_versions: bool = False,
    error: str | None = None,
    status=200,
):
    """The page; ``error``: why the action just taken here was refused."""
    ctx = ctx_for(request, s)
    shown = period_of(request, period)
    rows = statements.list_statements(ctx, shown, all_versions=all_versions) if shown else ()
    messages = statements.message_log(ctx, shown) if shown else ()
    jobs = bg.statement_jobs(ctx, shown) if shown else []
    return render(
        request,
        "statements.html",
        {
            "period": shown,
            "status": periods.get_period(ctx, shown).status if shown else None,
            "error": error,
            "rows": rows,
            "messages": messages,
            "all_versions": all_versions,
            "jobs": jobs,
            "unsent": sum(1 for r in rows if r.status == "current" and r.sent_at is None),
            "resendable": {m.id for m in messages if m.status in ("failed", "partial")}
            - {m.resend_of for m in messages},
        },
        status=status,
    )


@router.post("/statements/generate")
def statements_generate(request: Request, s: PeriodAdmin, period: Annotated[str, Form()]):
    try:
        job = bg.start_statements(ctx_for(request, s), "generate", period)
    except (Conflict, InvalidInput) as exc:
        return _refused(request, s, period, exc)
    return _job_response(request, job)


@router.post("/statements/send")
def statements_send(
    request: Request,
    s: PeriodAdmin,
    period: Annotated[str, Form()],
    pi: Annotated[str, Form()] = "",
    project: Annotated[str, Form()] = "",
    resend: Annotated[bool, Form()] = False,
):
    try:
        job = bg.start_statements(
            ctx_for(request, s), "send", period, pi=blank(pi), project=blank(project), resend=resend
        )
    except (Conflict, InvalidInput) as exc:
        return _refused(request, s, period, exc)
    return _job_response(request, job)


def _refused(request: Request, s, period: str, exc: OpenChargebackError):
    if is_htmx(request):  # the app's handler says it in the page's flash
        raise exc
    return _statements_page(request, s, period, error=exc.web, status=exc.http_status)


def _job_response(request: Request, job):
    return job_started(request, "_statement_job.html", job, "/statements")


@router.get("/statements/jobs/{job_id}")
def statements_job(request: Request, s: Reader, job_id: int):
    # the page's lists follow a job that just finished
    job = bg.statement_job(ctx_for(request, s), job_id)
    return job_progress(request, "_statement_job.html", job, "statements-changed")


@router.post("/statements/messages/{message_id}/resend")
def statements_resend(
    request: Request, s: PeriodAdmin, message_id: int, in_doubt: Annotated[bool, Form()] = False
):
    # An explicit resend of one logged message, to those of its recipients who did not get
    # it, even if its statements reached the PI by another message since; an in-doubt
    # message only with the "Resend anyway" button (in_doubt=true).
    report = statements.resend_messages(ctx_for(request, s), [message_id], force=True, in_doubt=in_doubt)
    return see_other(f"/statements?{qs(period=report.period)}#email-log")


@router.post("/statements/messages/{message_id}/decide")
def statements_decide(
    request: Request,
    s: PeriodAdmin,
    message_id: int,
    delivered: Annotated[bool, Form()],
    period: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
):
    # The operator's decision on an in-doubt message, after checking with the recipient.
    statements.decide_in_doubt(ctx_for(request, s), message_id, delivered=delivered, note=blank(note))
    return see_other(f"/statements?{qs(period=period)}#email-log")


@router.get("/statements/{number}/preview")
def statements_preview(request: Request, s: Reader, number: str, version: int | None = None):
    html = statements.preview_html(ctx_for(request, s), number, version)
    return HTMLResponse(html, headers={"Content-Security-Policy": PREVIEW_CSP})


@router.get("/statements/{number}/pdf")
def statements_pdf(request: Request, s: Reader, number: str, version: int | None = None):
    name, content = statements.statement_file(ctx_for(request, s), number, version)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": attachment(name)},
    )


@router.get("/statements/{number}/csv")
def statements_csv(request: Request, s: Reader, number: str, version: int | None = None):
    name, content = statements.statement_file(ctx_for(request, s), number, version, kind="csv")
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(name)},
    )
