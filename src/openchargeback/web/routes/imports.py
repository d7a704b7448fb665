"""Imports: drag-and-drop upload as a background job, progress, history, detail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from openchargeback.domain.errors import InvalidInput
from openchargeback.services import ingest as imports
from openchargeback.services import jobs, sources
from openchargeback.web.routes.common import blank, ctx_for, ip
from openchargeback.web.security import Importer, Reader
from openchargeback.web.templating import render

router = APIRouter()


@router.get("/imports")
def imports_page(request: Request, s: Reader, source: str | None = None, period: str | None = None):
    ctx = ctx_for(request, s)
    return render(
        request,
        "imports.html",
        {
            "items": imports.list_imports(ctx, source=blank(source), period=blank(period), limit=100),
            "jobs": jobs.recent_jobs(ctx, 8),
            "sources": sources.list_sources(ctx),
            "source": source or "",
            "period": period or "",
            "max_mb": request.app.state.settings.server.max_upload_mb,
        },
    )


@router.get("/imports/guess")
def guess(request: Request, s: Importer, name: str):
    g = jobs.guess(ctx_for(request, s), name)
    return JSONResponse({"source": g.source, "period": g.period})


@router.post("/imports/upload")
async def upload(
    request: Request,
    s: Importer,
    filename: str,
    source: str,
    period: str | None = None,
    replace: bool = False,
    append: bool = False,
    source_ok: bool = False,
    skip_invalid: bool = False,
):
    """The request body is the file itself (sent by the page's drag-and-drop script)."""
    ctx = ctx_for(request, s)
    limit = request.app.state.settings.server.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise jobs.TooLarge(
            f"{filename}: {int(declared) // (1024 * 1024)} MB is larger than "
            f"server.max_upload_mb ({limit // (1024 * 1024)} MB)"
        )
    if not source:
        raise InvalidInput(f"{filename}: choose a source")
    target = await run_in_threadpool(jobs.Upload, ctx, filename)
    try:
        async for chunk in request.stream():
            if chunk:
                target.write(chunk)
        path = await run_in_threadpool(target.close)
    except BaseException:
        target.discard()
        raise
    job_id = await run_in_threadpool(
        lambda: jobs.start_import(
            ctx,
            path,
            source,
            blank(period),
            replace=replace,
            append=append,
            source_ok=source_ok,
            skip_invalid=skip_invalid,
            ip=ip(request),
        )
    )
    job = await run_in_threadpool(jobs.get_job, ctx, job_id)
    return render(request, "_job.html", {"job": job})


@router.get("/imports/jobs/{job_id}")
def job_status(request: Request, s: Reader, job_id: int):
    job = jobs.get_job(ctx_for(request, s), job_id)
    # the import history follows a job that just finished (it listens for this event)
    changed = {"HX-Trigger": "imports-changed"} if job.finished else None
    return render(request, "_job.html", {"job": job}, headers=changed)


@router.get("/imports/{import_id}")
def import_detail(request: Request, s: Reader, import_id: int):
    return render(request, "import.html", {"d": imports.get_import(ctx_for(request, s), import_id)})
