"""The registry in the web: PIs, projects and funds/orgs (lists, add/edit forms, CSV
import and export), fund splits of a project, a period's adjustments, budgets.

Everyone may read; changes need the ``registry`` permission (admins). A change the
engine refuses (a bad field, a closed period, a CSV with bad rows) is shown on the form
it came from, as the engine words it, with what was typed kept."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from openchargeback.domain.errors import FileRefused, InvalidInput, OpenChargebackError
from openchargeback.services import jobs as bg
from openchargeback.services import registry
from openchargeback.web import charts
from openchargeback.web.pages import registry as registry_views
from openchargeback.web.routes.common import ctx_for, job_progress, job_started, period_of, see_other
from openchargeback.web.security import Reader, RegistryAdmin, attachment, is_htmx
from openchargeback.web.templating import render

router = APIRouter()
Text = Annotated[str, Form()]
KEY = {"pis": "email", "projects": "project_id", "funds": "code"}
NOUNS = {"pis": "PI", "projects": "project", "funds": "fund/org"}


def _labels() -> dict:
    return {"labels": registry_views.FIELD_LABELS, "kinds": registry_views.KIND_LABELS, "nouns": NOUNS}


@router.get("/registry")
def registry_home(request: Request, s: Reader):
    return see_other("/registry/projects")


# -- the project page ------------------------------------------------------------------------------
@router.get("/projects/detail")
def project_page(request: Request, s: Reader, key: Annotated[str, Query()], period: str | None = None):
    """A project's charges (as for a PI) and its registry record, fund splits and alerts."""
    page = registry_views.project_page(ctx_for(request, s), key, period_of(request, period))
    e = page.entity
    trend = (
        charts.trend(
            f"Billed cost by service, last {len(e.trend.periods)} periods",
            e.trend,
            e.currency,
            request.app.state.settings.statements.branding.locale,
            project=key,
        )
        if e
        else None
    )
    return render(
        request,
        "entity.html",
        {
            "e": e,
            "trend_chart": trend,
            "key": key,
            "kind": "project",
            "period": page.period,
            "reg": page.registry,
        },
    )


# -- adjustments ----------------------------------------------------------------------------------
def _adjustments(
    request: Request,
    s,
    period: str | None,
    *,
    error: str | None = None,
    values: dict | None = None,
    status: int = 200,
):
    page = registry_views.adjustments_page(ctx_for(request, s), period_of(request, period))
    return render(
        request,
        "adjustments.html",
        {
            "a": page,
            "error": error,
            "added": request.query_params.get("added"),
            "values": values
            or {"kind": "credit", "amount": "", "reason": "", "pi": "", "project": "", "fund": ""},
        },
        status=status,
    )


@router.get("/registry/adjustments")
def adjustments_list(request: Request, s: Reader, period: str | None = None):
    return _adjustments(request, s, period)


@router.post("/registry/adjustments")
def adjustment_add(
    request: Request,
    s: RegistryAdmin,
    period: Text,
    kind: Text = "credit",
    amount: Text = "",
    reason: Text = "",
    pi: Text = "",
    project: Text = "",
    fund: Text = "",
):
    try:
        info = registry_views.add_adjustment(
            ctx_for(request, s), period, kind, amount, reason, pi_email=pi, project_id=project, fund_org=fund
        )
    except OpenChargebackError as exc:
        values = {
            "kind": kind,
            "amount": amount,
            "reason": reason,
            "pi": pi,
            "project": project,
            "fund": fund,
        }
        return _adjustments(request, s, period, error=exc.message, values=values, status=exc.http_status)
    return see_other(
        f"/registry/adjustments?{urlencode({'period': info.period, 'added': info.id})}#adj-{info.id}"
    )


# -- budgets --------------------------------------------------------------------------------------
@router.get("/registry/budgets")
def budgets_page(request: Request, s: Reader, period: str | None = None, job: int | None = None):
    ctx = ctx_for(request, s)
    view = registry_views.budget_overview(ctx, period_of(request, period))
    return render(request, "budgets.html", {"b": view, "job": bg.budget_job(ctx, job) if job else None})


@router.post("/registry/budgets/check")
def budgets_check(request: Request, s: RegistryAdmin, period: Text = ""):
    """Check the alerts now (a job): those newly crossed are raised and, with email
    alerts on, emailed with those still waiting."""
    return job_started(
        request,
        "_budget_job.html",
        bg.start_budget_check(ctx_for(request, s), period or None),
        "/registry/budgets",
    )


@router.get("/registry/budgets/jobs/{job_id}")
def budgets_job(request: Request, s: Reader, job_id: int):
    # the alerts listed follow a check that just finished
    return job_progress(
        request, "_budget_job.html", bg.budget_job(ctx_for(request, s), job_id), "budgets-changed"
    )


@router.get("/registry/budgets/panel")
def budgets_panel(request: Request, s: Reader, period: str | None = None):
    """The dashboard's budget card (an htmx partial; empty when no budget is set)."""
    view = registry_views.budget_overview(ctx_for(request, s), period_of(request, period), alerts=5)
    return render(request, "_budget_panel.html", {"b": view})


@router.get("/registry/budgets/project")
def project_budget(request: Request, s: Reader, key: Annotated[str, Query()], period: str | None = None):
    """Spend against budget on the project page (an htmx partial)."""
    items = registry_views.project_budget(ctx_for(request, s), key, period_of(request, period))
    return render(request, "_project_budget.html", {"items": items, "key": key})


# -- splits ---------------------------------------------------------------------------------------
@router.get("/registry/projects/split")
def split_form(request: Request, s: RegistryAdmin, key: Annotated[str, Query()], period: str | None = None):
    form = registry_views.split_form(ctx_for(request, s), key, period_of(request, period))
    return render(request, "split_form.html", {"f": form, "error": None})


@router.post("/registry/projects/split")
async def split_save(request: Request, s: RegistryAdmin):
    sent = await request.form()
    key = str(sent.get("key", ""))
    rows = list(
        zip([str(x) for x in sent.getlist("fund")], [str(x) for x in sent.getlist("percent")], strict=False)
    )
    values: registry_views.SplitValues = {
        "first": str(sent.get("first", "")),
        "last": str(sent.get("last", "")),
        "scope": str(sent.get("scope", "all")),
        "sources": tuple(str(x) for x in sent.getlist("source")),
        "services": str(sent.get("services", "")),
        "reason": str(sent.get("reason", "")),
        "rows": rows,
    }
    clear = sent.get("do") == "clear"
    ctx = ctx_for(request, s)
    try:
        change = registry_views.set_split(
            ctx,
            key,
            rows,
            values["first"],
            values["last"],
            scope=values["scope"],
            scope_sources=values["sources"],
            services=values["services"],
            reason=values["reason"],
            clear=clear,
        )
    except OpenChargebackError as exc:
        form = registry_views.split_form(ctx, key, values["first"] or None, values)
        return render(request, "split_form.html", {"f": form, "error": exc.message}, status=exc.http_status)
    return see_other(
        "/projects/detail?"
        + urlencode({"key": key, "period": change.first, "split": "cleared" if clear else "saved"})
        + "#registry"
    )


# -- PIs, projects, funds -------------------------------------------------------------------------
def _list(
    request: Request, s, kind: str, q: str | None = None, *, problems=None, error=None, status: int = 200
):
    view = registry_views.registry_list(ctx_for(request, s), kind, q)
    notice = None
    p = request.query_params
    if p.get("saved"):
        notice = f"{NOUNS[kind].capitalize()} {p['saved']} saved."
    elif p.get("file"):
        notice = (
            f"{p['file']}: {p.get('added', 0)} added, {p.get('updated', 0)} updated, "
            f"{p.get('unchanged', 0)} unchanged."
        )
    name = (
        "_registry_rows.html"
        if is_htmx(request) and problems is None and error is None
        else "registry_list.html"
    )
    return render(
        request,
        name,
        {"v": view, "notice": notice, "problems": problems, "error": error, **_labels()},
        status=status,
    )


@router.get("/registry/{kind}")
def registry_list(request: Request, s: Reader, kind: str, q: str | None = None):
    return _list(request, s, registry_views.kind_of(kind), q)


@router.get("/registry/{kind}/export.csv")
def registry_export(request: Request, s: Reader, kind: str):
    text = registry.export_csv(ctx_for(request, s), registry_views.kind_of(kind), formula_safe=True)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(f"{kind}.csv")},
    )


@router.get("/registry/{kind}/new")
def registry_new(request: Request, s: RegistryAdmin, kind: str):
    form = registry_views.registry_form(ctx_for(request, s), kind)
    return render(request, "registry_form.html", {"f": form, "error": None, **_labels()})


@router.get("/registry/{kind}/edit")
def registry_edit(request: Request, s: RegistryAdmin, kind: str, key: Annotated[str, Query()]):
    form = registry_views.registry_form(ctx_for(request, s), kind, key)
    return render(request, "registry_form.html", {"f": form, "error": None, **_labels()})


async def _save(request: Request, s, kind: str, *, editing: bool):
    kind = registry_views.kind_of(kind)
    sent = {k: str(v) for k, v in (await request.form()).items()}
    values = registry_views.form_values(kind, sent, editing=editing)
    key = sent.get("key", "") if editing else values.get(KEY[kind], "")
    ctx = ctx_for(request, s)
    try:
        if editing:
            record = registry.edit_record(ctx, kind, key, values)
        else:
            record = registry.add_record(ctx, kind, values)
    except OpenChargebackError as exc:
        shown = {**values, KEY[kind]: key}
        form = registry_views.registry_form(ctx, kind, key if editing else None, shown)
        return render(
            request,
            "registry_form.html",
            {"f": form, "error": exc.message, **_labels()},
            status=exc.http_status,
        )
    saved = getattr(record, KEY[kind])
    return see_other(f"/registry/{kind}?{urlencode({'saved': saved})}")


@router.post("/registry/{kind}")
async def registry_add(request: Request, s: RegistryAdmin, kind: str):
    return await _save(request, s, kind, editing=False)


@router.post("/registry/{kind}/edit")
async def registry_save(request: Request, s: RegistryAdmin, kind: str):
    return await _save(request, s, kind, editing=True)


@router.post("/registry/{kind}/import")
async def registry_import(
    request: Request, s: RegistryAdmin, kind: str, file: Annotated[UploadFile | None, File()] = None
):
    kind = registry_views.kind_of(kind)
    limit = request.app.state.settings.server.max_upload_mb * 1024 * 1024
    try:
        if file is None or not file.filename:
            raise InvalidInput("choose a CSV file to import")
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise InvalidInput(
                f"{file.filename}: larger than server.max_upload_mb ({limit // (1024 * 1024)} MB)"
            )
        rep = registry.import_bytes(ctx_for(request, s), kind, file.filename, data)
    except FileRefused as exc:
        head = exc.message.split("\n", 1)[0]
        return _list(request, s, kind, problems=exc.problems or None, error=head, status=exc.http_status)
    except OpenChargebackError as exc:
        return _list(request, s, kind, error=exc.message, status=exc.http_status)
    return see_other(
        f"/registry/{kind}?"
        + urlencode(
            {
                "file": rep.file,
                "added": len(rep.added),
                "updated": len(rep.updated),
                "unchanged": rep.unchanged,
            }
        )
    )
