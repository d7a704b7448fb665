"""Read operations of the API: periods, charges, statements, registry, reports, review
queue, import jobs, disputes. Every list of billing data passes the caller's scope."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from openchargeback.domain.errors import NotFound
from openchargeback.domain.jsonable import to_json
from openchargeback.domain.roles import Permission
from openchargeback.services import charges, jobs, journal, periods, portal, registry, review, statements
from openchargeback.web.api.auth import CallerDep
from openchargeback.web.api.problems import ERRORS

router = APIRouter(responses=ERRORS)  # type: ignore[arg-type]
MAX_LIMIT = 500
PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
PeriodPath = Annotated[str, Path(pattern=PERIOD, description="YYYY-MM")]
PeriodQuery = Annotated[str, Query(pattern=PERIOD, description="YYYY-MM")]
Number = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,40}$", description="statement number")]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]  # database keys: larger values cannot exist
Grouping = Literal["pi", "project", "fund", "source", "service"]


class Item(BaseModel):
    model_config = {"extra": "allow"}


class Items(BaseModel):
    items: list[dict[str, Any]]
    next: str | None = None  # pass as ``after`` for the next page


@router.get("/periods", response_model=Items, tags=["periods"])
def list_periods(caller: CallerDep):
    caller.reads()
    return {"items": [p.as_json() for p in periods.list_periods(caller.ctx)]}


@router.get("/periods/{period}", response_model=Item, tags=["periods"])
def get_period(caller: CallerDep, period: PeriodPath):
    caller.reads()
    return periods.get_period(caller.ctx, period).as_json()


@router.get("/charges", response_model=Items, tags=["charges"])
def list_charges(
    caller: CallerDep,
    period: PeriodQuery | None = None,
    source: str | None = None,
    pi: str | None = None,
    project: str | None = None,
    fund: str | None = None,
    flagged: bool | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
):
    """Charges in the storage order, ``limit`` at a time; ``next`` is the key of the next page."""
    caller.reads()
    q = charges.Query(
        period=period, source=source, pi=pi, project=project, fund=fund, flagged=flagged, after=after
    )
    page = charges.page(caller.ctx, q, limit=limit, scope=caller.scope, totals=False)
    # the page is plain JSON data already: returned as a response, it skips FastAPI's
    # validation and re-encoding against Items (a third of a page's CPU; same bytes)
    return JSONResponse({"items": [to_json(r) for r in page.rows], "next": page.next_cursor})


@router.get("/charges/{charge_id}", response_model=Item, tags=["charges"])
def get_charge(caller: CallerDep, charge_id: Id):
    caller.reads()
    return to_json(charges.detail(caller.ctx, charge_id, scope=caller.scope))


@router.get("/disputes", response_model=Items, tags=["disputes"])
def list_disputes(caller: CallerDep, open_only: bool = False):
    caller.reads()
    return {
        "items": [d.as_json() for d in portal.list_disputes(caller.ctx, caller.scope, open_only=open_only)]
    }


@router.get("/statements", response_model=Items, tags=["statements"])
def list_statements(caller: CallerDep, period: PeriodQuery | None = None):
    """Staff: a period's current statements (``period`` needed). A pi or delegate: every
    version sent to them (of ``period``, when given)."""
    caller.reads()
    if caller.scope.restricted:
        sent = portal.sent_statements(caller.ctx, caller.scope)
        return {"items": [s.as_json() for s in sent if period is None or s.period == period]}
    if period is None:
        raise NotFound("give period=YYYY-MM")
    return {"items": [s.as_json() for s in statements.list_statements(caller.ctx, period)]}


@router.get("/statements/{number}/{version}/lines", response_model=Items, tags=["statements"])
def statement_lines(caller: CallerDep, number: Number, version: Id):
    """The lines of a statement version that was sent (a pi or delegate: sent to them),
    numbered as ``/statements/{number}/{version}/lines/{line}/disputes`` takes them."""
    caller.reads()
    lines = portal.statement_lines(caller.ctx, caller.scope, number, version)
    return {"items": [ln.as_json() for ln in lines]}


@router.get(
    "/statements/{number}/{version}/{kind}",
    tags=["statements"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "text/csv": {}}}},
)
def download_statement(caller: CallerDep, number: Number, version: Id, kind: Literal["pdf", "csv"]):
    """The PDF as issued (``kind`` pdf) or the detail CSV (``kind`` csv)."""
    caller.reads()
    if kind not in ("pdf", "csv"):
        raise NotFound(f"statement file kind {kind!r}: expected pdf or csv")
    if caller.scope.restricted:
        name, data = portal.statement_file(caller.ctx, caller.scope, number, version, kind=kind)
    else:
        name, data = statements.statement_file(caller.ctx, number, version, kind=kind)
    media = "application/pdf" if kind == "pdf" else "text/csv"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/reports/totals", response_model=Items, tags=["reports"])
def report_totals(caller: CallerDep, period: PeriodQuery, by: Grouping | None = None):
    """Billable totals of a period (rejected charges left out), by pi, project, fund,
    source or service."""
    caller.reads()
    return {"items": [t.as_json() for t in portal.totals(caller.ctx, caller.scope, period, by)]}


@router.get("/registry/{kind}", response_model=Items, tags=["registry"])
def list_registry(caller: CallerDep, kind: Literal["pis", "projects", "funds"]):
    """``pis``, ``projects`` (a pi or delegate: their own) or ``funds`` (staff)."""
    caller.reads()
    if kind not in ("pis", "projects", "funds"):
        raise NotFound(f"registry kind {kind!r}: expected pis, projects or funds")
    if caller.scope.restricted and kind == "funds":
        caller.need(Permission.READ)
    records = registry.list_records(caller.ctx, kind)
    key = {"pis": "email", "projects": "pi_email"}.get(kind)
    out = [to_json(r) for r in records]
    if caller.scope.restricted and key:
        out = [r for r in out if caller.scope.allows(r.get(key))]
    return {"items": out}


@router.get("/registry-splits", response_model=Items, tags=["registry"])
def list_splits(caller: CallerDep, project: str | None = None):
    caller.need(Permission.READ)
    return {"items": [s.as_json() for s in registry.list_splits(caller.ctx, project)]}


@router.get("/adjustments", response_model=Items, tags=["registry"])
def list_adjustments(caller: CallerDep, period: PeriodQuery):
    caller.need(Permission.READ)
    return {"items": [a.as_json() for a in registry.list_adjustments(caller.ctx, period)]}


@router.get("/budgets", response_model=Items, tags=["registry"])
def list_budgets(caller: CallerDep, period: PeriodQuery | None = None):
    caller.need(Permission.READ)
    return {"items": [b.as_json() for b in registry.budget_status(caller.ctx, period)]}


@router.get("/review", response_model=Items, tags=["review"])
def review_queue(caller: CallerDep, period: PeriodQuery, after: str | None = None):
    """Flagged charges of a period not decided yet, largest first."""
    caller.need(Permission.READ)
    q = review.list_queue(caller.ctx, period, after=after)
    return {"items": [to_json(i) for i in q.items], "next": q.next_after}


@router.get("/imports/jobs/{job_id}", response_model=Item, tags=["imports"])
def import_job(caller: CallerDep, job_id: Id):
    caller.need(Permission.READ)
    return to_json(jobs.get_job(caller.ctx, job_id))


@router.get("/journals", response_model=Items, tags=["journal"])
def list_journals(caller: CallerDep, period: PeriodQuery | None = None):
    caller.need(Permission.READ)
    return {"items": [to_json(e) for e in journal.list_exports(caller.ctx, period)]}


@router.get(
    "/journals/{export_id}/file",
    tags=["journal"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def journal_file(caller: CallerDep, export_id: Id):
    """An earlier journal export's file exactly as written."""
    caller.need(Permission.READ)
    info, data = journal.export_file(caller.ctx, export_id)
    name = getattr(info, "file_name", f"journal-{export_id}")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
