"""The charge browser, one charge, CSV export."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from openchargeback.services import charges, sources
from openchargeback.web.pages import review as review_views
from openchargeback.web.routes.common import blank, ctx_for, period_of
from openchargeback.web.security import Reader, attachment
from openchargeback.web.templating import render

router = APIRouter()
FILTERS = ("period", "source", "pi", "project", "fund", "service", "flagged", "q", "sort", "desc")


def _query(request: Request, after: str | None = None) -> charges.Query:
    p = request.query_params
    flagged = {"yes": True, "no": False}.get(p.get("flagged", ""))
    period = p.get("period")
    if period is None:
        period = period_of(request)
    return charges.Query(
        period=blank(period),
        source=blank(p.get("source")),
        pi=p.get("pi") if p.get("pi") is not None else None,
        project=p.get("project") if p.get("project") is not None else None,
        fund=p.get("fund") if p.get("fund") is not None else None,
        service=blank(p.get("service")),
        flagged=flagged,
        text=blank(p.get("q")),
        sort=p.get("sort") or "file",
        desc=p.get("desc") == "1",
        after=blank(after),
    )


def _params(request: Request, q: charges.Query) -> dict:
    """The filter parameters as given (for links that keep them)."""
    p = request.query_params
    out = {k: p.get(k) for k in FILTERS if p.get(k) not in (None, "")}
    out["period"] = q.period or ""
    return out


def _clean(q: charges.Query) -> charges.Query:
    # empty text fields from the filter form mean "any", not "missing"
    from dataclasses import replace

    return replace(q, pi=q.pi or None, project=q.project or None, fund=q.fund or None)


@router.get("/charges")
def charges_page(request: Request, s: Reader):
    ctx = ctx_for(request, s)
    q = _clean(_query(request))
    page = charges.page(ctx, q)
    return render(
        request,
        "charges.html",
        {
            "page": page,
            "q": q,
            "params": _params(request, q),
            "sources": sources.list_sources(ctx),
            "services": charges.service_names(ctx),
            "sorts": charges.SORTS,
        },
    )


@router.get("/charges/rows")
def charges_rows(request: Request, s: Reader, after: str | None = None):
    q = _clean(_query(request, after))
    page = charges.page(ctx_for(request, s), q)
    return render(request, "_charge_rows.html", {"page": page, "q": q, "params": _params(request, q)})


@router.get("/charges/export.csv")
def charges_export(request: Request, s: Reader):
    q = _clean(_query(request))
    name = f"charges_{q.period or 'all'}.csv"
    return StreamingResponse(
        charges.export_csv(ctx_for(request, s), q),
        media_type="text/csv",
        headers={"Content-Disposition": attachment(name)},
    )


@router.get("/charges/{charge_id}")
def charge_detail(request: Request, s: Reader, charge_id: int):
    page = review_views.charge_page(ctx_for(request, s), charge_id)
    return render(request, "charge.html", {"c": page.detail, "rv": page})
