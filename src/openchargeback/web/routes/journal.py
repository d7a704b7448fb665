"""Journal: the exports of a period; admins and reviewers export any format and download
earlier files, viewers see the list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from openchargeback.domain.errors import Conflict, InvalidInput
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
def journal_page(request: Request, s: Reader, period: str | None = None, done: int | None = None):
    return _journal_page(request, s, period, done=done)


def _journal_page(request: Request, s, period: str | None, *, done=None, refused=None, asked=None):
    """The page; ``refused``: the error of the export just asked for (``asked``: its form)."""
    ctx = ctx_for(request, s)
    shown = period_of(request, period)
    exports = svc.list_exports(ctx, shown) if shown else ()
    return render(
        request,
        "journal.html",
        {
            "period": shown,
            "status": periods.get_period(ctx, shown).status if shown else None,
            "exports": exports,
            "formats": svc.list_formats(ctx),
            "done": next((e for e in exports if e.id == done), None),
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
        result = svc.export_journal(
            ctx_for(request, s), period, format, draft=draft, delta=delta, again=again, write=False
        )
    except (Conflict, InvalidInput) as exc:  # said on the journal page, with the form as it was
        if is_htmx(request):
            raise
        asked = {"format": format, "draft": draft, "delta": delta, "again": again}
        return _journal_page(request, s, period, refused=exc, asked=asked)
    url = f"/journal?{qs(period=result.export.period, done=result.export.id)}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return see_other(url)


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
