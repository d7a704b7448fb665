"""Dashboard, periods, projects and PIs, help."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request

from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.services import ingest as imports
from openchargeback.services import insights, month, periods
from openchargeback.web import charts
from openchargeback.web.charts import charges_link
from openchargeback.web.routes.common import ctx_for, ip, period_of, see_other
from openchargeback.web.security import PeriodAdmin, Reader
from openchargeback.web.templating import render

router = APIRouter()
# slug -> (title, what it tells)
HELP = {
    "workflow": ("The month, step by step", "Import, review, close, statements, journal, finalize."),
    "review": ("Reviewing charges", "Why charges are flagged and how to decide them."),
    "statements": ("Statements", "Generating and sending statements; the email log."),
    "journal": ("The journal (GL) export", "The file accounting posts: drafts, corrections, refusals."),
    "tags": ("Tags a site must set", "The FOCUS tags that say who pays, and this site's mapping."),
    "focus": ("FOCUS columns used", "Which columns of a FOCUS file matter and what for."),
    "roles": ("Roles and security", "What each role may do; sessions and the audit log."),
}
HELP_PAGES = {slug: title for slug, (title, _) in HELP.items()}


@router.get("/")
def dashboard(request: Request, s: Reader, period: str | None = None):
    d = insights.dashboard(ctx_for(request, s), period_of(request, period))
    locale = request.app.state.settings.statements.branding.locale
    trend = charts.trend(
        f"Billed cost by source, last {len(d.trend.periods)} periods", d.trend, d.currency, locale
    )
    by_source = (
        charts.hbars(
            "Billed cost by source",
            [(disp, c.billed) for _, disp, c in d.by_source],
            d.currency,
            locale=locale,
            href=lambda i: charges_link(period=d.period, source=d.by_source[i][0]),
        )
        if d.by_source
        else None
    )
    return render(request, "dashboard.html", {"d": d, "trend_chart": trend, "source_chart": by_source})


@router.get("/periods")
def periods_list(request: Request, s: Reader):
    return render(request, "periods.html", {"items": insights.periods_overview(ctx_for(request, s))})


@router.get("/periods/{name}")
def period_detail(request: Request, s: Reader, name: str):
    return _period_page(request, s, name)


def _period_page(
    request: Request, s, name: str, *, refusal=None, error: str | None = None, status: int = 200
):
    """The month's checklist; ``refusal`` (charges pending review) or ``error``: why the
    action just taken was refused, shown on the page."""
    ctx = ctx_for(request, s)
    info = periods.get_period(ctx, period_of(request, name) or name)
    currency, top = insights.period_top(ctx, info.name, "pi", 10)
    return render(
        request,
        "period.html",
        {
            "p": info,
            "m": month.checklist(ctx, info.name),
            "currency": currency,
            "top_pis": top,
            "refusal": refusal,
            "error": error,
            "imports": imports.list_imports(ctx, period=info.name, limit=200),
            "totals": next((o for o in insights.periods_overview(ctx) if o.name == info.name), None),
        },
        status=status,
    )


@router.post("/periods/{name}/{action}")
def period_action(
    request: Request,
    s: PeriodAdmin,
    name: str,
    action: str,
    reason: Annotated[str, Form()] = "",
    force: Annotated[str, Form()] = "",
):
    if action not in ("close", "finalize", "reopen"):
        raise NotFound(f"unknown period action {action!r}")
    try:
        periods.change_status(
            ctx_for(request, s),
            name,
            action,
            reason or None,
            force=action == "close" and force == "1",
            ip=ip(request),
        )
    except periods.PendingReview as exc:  # show the count, the queue and "close anyway"
        return _period_page(request, s, name, refusal=exc, status=409)
    except (Conflict, InvalidInput) as exc:  # said on the period's page, where it was asked
        return _period_page(request, s, name, error=exc.web, status=exc.http_status)
    done = {"close": "closed", "finalize": "finalized", "reopen": "reopened"}[action]
    return see_other(f"/periods/{name}?msg={done}")


SHORT_LIST = 100  # rows of the projects/PIs list before "Show all" (at most 500): 500 took ~50 ms


def _entities(request: Request, s, kind: str, period: str | None, q: str | None, show_all: bool):
    ctx = ctx_for(request, s)
    shown = period_of(request, period)
    currency, rows = insights.entities(ctx, kind, shown, text=q, limit=500 if show_all else SHORT_LIST + 1)
    more = len(rows) > SHORT_LIST and not show_all
    return render(
        request,
        "entities.html",
        {
            "kind": kind,
            "rows": rows[:SHORT_LIST] if more else rows,
            "more": more,
            "currency": currency,
            "period": shown,
            "q": q or "",
        },
    )


def _entity(request: Request, s, kind: str, key: str, period: str | None):
    e = insights.entity(ctx_for(request, s), kind, key, period_of(request, period))
    trend = charts.trend(
        f"Billed cost by service, last {len(e.trend.periods)} periods",
        e.trend,
        e.currency,
        request.app.state.settings.statements.branding.locale,
        **{kind: key},
    )
    return render(request, "entity.html", {"e": e, "trend_chart": trend, "key": key})


@router.get("/projects")
def projects(request: Request, s: Reader, period: str | None = None, q: str | None = None, all: bool = False):
    return _entities(request, s, "project", period, q, all)


@router.get("/pis")
def pis(request: Request, s: Reader, period: str | None = None, q: str | None = None, all: bool = False):
    return _entities(request, s, "pi", period, q, all)


@router.get("/pis/detail")
def pi(request: Request, s: Reader, key: Annotated[str, Query()], period: str | None = None):
    return _entity(request, s, "pi", key, period)


@router.get("/help")
def help_index(request: Request, s: Reader):
    about = {slug: text for slug, (_, text) in HELP.items()}
    return render(request, "help/index.html", {"pages": HELP_PAGES, "about": about, "title": "Help"})


@router.get("/help/{page}")
def help_page(request: Request, s: Reader, page: str):
    if page not in HELP_PAGES:
        raise NotFound(f"no help page {page!r}")
    return render(
        request,
        f"help/{page}.html",
        {"pages": HELP_PAGES, "title": HELP_PAGES[page], "mapping": request.app.state.settings.mapping()},
    )
