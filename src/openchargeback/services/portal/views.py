"""What a PI or delegate sees: their PIs and projects, the open period's cost so far
(provisional), a 12-period trend, project budgets and alerts, and every statement
version sent to them. Each read is filtered by the reader's :class:`Scope`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.jsonable import JSON, Jsonable
from openchargeback.domain.money import ZERO
from openchargeback.domain.periods import Period
from openchargeback.domain.scope import Scope
from openchargeback.services.context import Context
from openchargeback.services.registry import BudgetAlert, BudgetStatus, budget_status, list_alerts
from openchargeback.storage import aggregates as agg
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import portal as repo

TREND = 12


@dataclass(frozen=True)
class ProjectCost(Jsonable):
    project_id: str | None
    name: str | None
    pi_email: str | None
    status: str | None
    billed: Decimal
    list: Decimal
    rows: int


@dataclass(frozen=True)
class SentStatement(Jsonable):
    id: int = field(metadata={JSON: None})
    period: str
    number: str
    version: int
    kind: str
    pi_email: str | None
    project_id: str | None
    currency: str
    status: str  # current | superseded | withdrawn
    due_total: Decimal = field(metadata={JSON: "due"})
    sent_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None


@dataclass(frozen=True)
class Home:
    pis: tuple[tuple[str, str | None], ...]  # (email, name)
    currency: str
    open_period: str | None  # the latest open period: its cost so far is provisional
    month_to_date: tuple[ProjectCost, ...]
    month_to_date_total: Decimal
    trend_periods: tuple[str, ...]
    trend: tuple[tuple[str, tuple[Decimal, ...]], ...]  # (project, one billed value per period)
    projects: tuple[ProjectCost, ...]  # every project of the held PIs (registry)
    budgets: tuple[BudgetStatus, ...]
    alerts: tuple[BudgetAlert, ...]
    statements: tuple[SentStatement, ...]


def _held(scope: Scope) -> tuple[str, ...] | None:
    return tuple(sorted(scope.pis)) if scope.pis is not None else None


def home(ctx: Context, scope: Scope) -> Home:
    from openchargeback.services.insights import refresh  # loads the ingest package

    refresh(ctx)
    held = _held(scope)
    currency = ctx.settings.currency
    with ctx.read() as conn:
        periods = list(periods_repo.list_all(conn))  # newest first
        pis = tuple((r.email, r.name) for r in repo.pis_named(conn, held)) if held is not None else ()
        registry = repo.projects_of(conn, held) if held is not None else []
        open_row = next((p for p in periods if p.status == "open"), None)
        filters: dict[str, object] = {"currency": currency, "review": agg.BILLABLE}
        if held is not None:
            filters["pi"] = held
        mtd_items = (
            agg.grouped(conn, period_ids=[open_row.id], by=("pi", "project"), filters=filters)
            if open_row is not None
            else []
        )
        trend_names = [p.name for p in periods[:TREND]][::-1]  # the periods that exist, oldest first
        ids = [p.id for p in periods if p.name in trend_names]
        trend_items = (
            agg.grouped(conn, period_ids=ids, by=("period", "project"), filters=filters, order="group")
            if ids
            else []
        )
    by_id = {r.project_id: r for r in registry}
    mtd = tuple(
        ProjectCost(
            i["project"],
            by_id[i["project"]].name if i["project"] in by_id else None,
            i["pi"],
            by_id[i["project"]].status if i["project"] in by_id else None,
            i["billed"],
            i["list"],
            i["rows"],
        )
        for i in mtd_items
    )
    series: dict[str, list[Decimal]] = {}
    for i in trend_items:
        label = i["project"] or "(no project)"
        series.setdefault(label, [ZERO] * len(trend_names))[trend_names.index(i["period"])] += i["billed"]
    trend = tuple(sorted(((k, tuple(v)) for k, v in series.items()), key=lambda kv: (-sum(kv[1]), kv[0])))
    projects = tuple(ProjectCost(r.project_id, r.name, r.pi_email, r.status, ZERO, ZERO, 0) for r in registry)
    mine = set(by_id)
    budgets = tuple(b for b in budget_status(ctx) if b.holder_kind == "project" and b.holder in mine)
    alerts = tuple(a for a in list_alerts(ctx) if a.holder_kind == "project" and a.holder in mine)
    return Home(
        pis,
        currency,
        open_row.name if open_row is not None else None,
        mtd,
        sum((p.billed for p in mtd), ZERO),
        tuple(trend_names),
        trend,
        projects,
        budgets,
        alerts,
        sent_statements(ctx, scope),
    )


def sent_statements(ctx: Context, scope: Scope) -> tuple[SentStatement, ...]:
    with ctx.read() as conn:
        rows = repo.sent_statements(conn, _held(scope))
    return tuple(
        SentStatement(
            r.id,
            r.period,
            r.number,
            r.version,
            r.kind,
            r.pi_email,
            r.project_id,
            r.currency,
            r.status,
            r.due_total,
            r.sent_at,
            r.acknowledged_by,
            r.acknowledged_at,
        )
        for r in rows
    )


def sent_statement(ctx: Context, scope: Scope, number: str, version: int) -> SentStatement:
    """One version that was sent to the scope's PIs, else NotFound (its existence is not told)."""
    for s in sent_statements(ctx, scope):
        if s.number == number and s.version == version:
            return s
    raise NotFound(f"statement {number} version {version} does not exist")


def statement_file(
    ctx: Context, scope: Scope, number: str, version: int, *, kind: str = "pdf"
) -> tuple[str, bytes]:
    from openchargeback.services import statements

    sent_statement(ctx, scope, number, version)
    return statements.statement_file(ctx, number, version, kind=kind)


def statement_preview(ctx: Context, scope: Scope, number: str, version: int) -> str:
    from openchargeback.services import statements

    sent_statement(ctx, scope, number, version)
    return statements.preview_html(ctx, number, version)


REPORT_GROUPS = ("pi", "project", "fund", "source", "service")


@dataclass(frozen=True)
class TotalRow(Jsonable):
    group: str | None
    currency: str
    rows: int
    list: Decimal
    effective: Decimal
    billed: Decimal


def totals(ctx: Context, scope: Scope, period: str, by: str | None = None) -> tuple[TotalRow, ...]:
    """A period's billable totals (rejected charges left out), by a dimension, in the scope."""
    from openchargeback.services import lookup
    from openchargeback.services.insights import refresh

    if by is not None and by not in REPORT_GROUPS:
        raise InvalidInput(f"by {by!r}: expected one of {', '.join(REPORT_GROUPS)}")
    refresh(ctx)
    held = _held(scope)
    with ctx.read() as conn:
        row = lookup.period(conn, Period.parse(period).name)
        filters: dict[str, object] = {"review": agg.BILLABLE}
        if held is not None:
            filters["pi"] = held
        dims = (by, "currency") if by else ("currency",)
        items = agg.grouped(conn, period_ids=[row.id], by=dims, filters=filters)
    return tuple(
        TotalRow(i[by] if by else None, i["currency"], i["rows"], i["list"], i["effective"], i["billed"])
        for i in items
    )
