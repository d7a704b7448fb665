"""Dashboard, period overview, projects and PIs: totals read from the charge rollup,
which is brought up to date first (see storage/rollups.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.money import ZERO
from openchargeback.domain.periods import Period
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.ingest.history import ImportSummary, summary_of
from openchargeback.services.periods import period_names
from openchargeback.storage import aggregates as agg
from openchargeback.storage import imports as imports_repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import rollups
from openchargeback.storage import sources as sources_repo

TREND = 12
KINDS = {"pi": "pi", "project": "project"}


@dataclass(frozen=True)
class Costs:
    rows: int = 0
    billed: Decimal = ZERO
    effective: Decimal = ZERO
    list: Decimal = ZERO
    contracted: Decimal = ZERO

    @property
    def subsidy(self) -> Decimal:
        """What the institution covers: list price minus what is billed (never negative)."""
        return max(self.list - self.billed, ZERO) if self.list else ZERO

    @classmethod
    def of(cls, item: dict | None) -> Costs:
        if not item:
            return cls()
        return cls(item["rows"], item["billed"], item["effective"], item["list"], item["contracted"])


@dataclass(frozen=True)
class Trend:
    periods: tuple[str, ...]
    series: tuple[tuple[str, tuple[Decimal, ...]], ...]  # (label, one value per period)


@dataclass(frozen=True)
class Dashboard:
    period: str | None
    status: str | None
    currency: str
    periods: tuple[str, ...]
    totals: Costs
    pis: int
    projects: int
    pending: Costs  # flagged and not decided yet
    by_source: tuple[tuple[str, str, Costs], ...]  # name, display name, costs
    top_pis: tuple[tuple[str | None, Costs], ...]
    top_projects: tuple[tuple[str | None, Costs], ...]
    recent_imports: tuple[ImportSummary, ...]
    trend: Trend
    other_currencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class PeriodOverview:
    name: str
    status: str
    totals: Costs
    currency: str


@dataclass(frozen=True)
class EntityRow:
    key: str | None
    period: Costs
    all_time: Costs


@dataclass(frozen=True)
class EntityDetail:
    kind: str
    key: str | None
    period: str
    currency: str
    totals: Costs
    by_service: tuple[tuple[str | None, Costs], ...]
    by_source: tuple[tuple[str | None, Costs], ...]
    related: tuple[tuple[str | None, Costs], ...]  # PIs of a project, projects of a PI
    trend: Trend
    all_time: Costs = field(default_factory=Costs)


def refresh(ctx: Context, period_ids: list[int] | None = None) -> None:
    with ctx.read() as conn:
        todo = rollups.stale(conn, period_ids)
    if not todo:
        return
    with ctx.write() as conn:
        for pid, fp in rollups.stale(conn, list(todo)).items():
            rollups.rebuild(conn, pid, fp, ctx.clock())


def default_period(ctx: Context) -> str | None:
    names = period_names(ctx)
    return names[0] if names else None


def _ids(conn) -> dict[str, int]:
    return {r.name: r.id for r in periods_repo.list_all(conn)}


def _currency(ctx: Context, conn, period_ids: list[int]) -> tuple[str, tuple[str, ...]]:
    found = [c["currency"] for c in agg.grouped(conn, period_ids=period_ids, by=("currency",))]
    main = ctx.settings.currency if ctx.settings.currency in found or not found else found[0]
    return main, tuple(c for c in found if c != main)


def _trend_names(period: str) -> list[str]:
    p = Period.parse(period)
    names = []
    for _ in range(TREND):
        names.append(p.name)
        p = p.previous()
    return names[::-1]


def _trend(
    conn, ids: dict[str, int], period: str, currency: str, by: str | None, filters: dict | None = None
) -> Trend:
    names = _trend_names(period)
    present = [ids[n] for n in names if n in ids]
    f = {"currency": currency, "review": agg.BILLABLE, **(filters or {})}
    items = (
        agg.grouped(
            conn, period_ids=present, by=("period", by) if by else ("period",), filters=f, order="group"
        )
        if present
        else []
    )
    series: dict[str, list[Decimal]] = {}
    for i in items:
        label = (i[by] if by else "total") or "(none)"
        series.setdefault(label, [ZERO] * len(names))[names.index(i["period"])] = i["billed"]
    ordered = sorted(series.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    return Trend(tuple(names), tuple((k, tuple(v)) for k, v in ordered))


def dashboard(ctx: Context, period: str | None) -> Dashboard:
    refresh(ctx)
    with ctx.read() as conn:
        ids = _ids(conn)
        names = tuple(ids)
        if period is None:
            period = names[0] if names else None
        recent = tuple(summary_of(r) for r in imports_repo.list_recent(conn, limit=6))
        if period is None or period not in ids:
            return Dashboard(
                period,
                None,
                ctx.settings.currency,
                names,
                Costs(),
                0,
                0,
                Costs(),
                (),
                (),
                (),
                recent,
                Trend((), ()),
            )
        pid = ids[period]
        status = lookup.period(conn, period).status
        currency, others = _currency(ctx, conn, [pid])
        f = {"currency": currency, "review": agg.BILLABLE}
        total = Costs.of(next(iter(agg.grouped(conn, period_ids=[pid], filters=f)), None))
        pending = Costs.of(
            next(
                iter(
                    agg.grouped(
                        conn,
                        period_ids=[pid],
                        filters={"currency": currency, "flagged": True, "review": agg.NULL},
                    )
                ),
                None,
            )
        )
        displays = {r.name: r.display_name for r in sources_repo.list_all(conn)}
        by_source = tuple(
            (i["source"], displays.get(i["source"], i["source"]), Costs.of(i))
            for i in agg.grouped(conn, period_ids=[pid], by=("source",), filters=f)
        )
        top_pis = tuple(
            (i["pi"], Costs.of(i))
            for i in agg.grouped(conn, period_ids=[pid], by=("pi",), filters=f, limit=8)
        )
        top_projects = tuple(
            (i["project"], Costs.of(i))
            for i in agg.grouped(conn, period_ids=[pid], by=("project",), filters=f, limit=8)
        )
        return Dashboard(
            period,
            status,
            currency,
            names,
            total,
            agg.distinct_count(conn, period_ids=[pid], dim="pi", filters=f),
            agg.distinct_count(conn, period_ids=[pid], dim="project", filters=f),
            pending,
            by_source,
            top_pis,
            top_projects,
            recent,
            _trend(conn, ids, period, currency, "source"),
            others,
        )


def periods_overview(ctx: Context) -> list[PeriodOverview]:
    refresh(ctx)
    with ctx.read() as conn:
        rows = periods_repo.list_all(conn)
        ids = [r.id for r in rows]
        cur = ctx.settings.currency
        items = (
            {
                i["period"]: i
                for i in agg.grouped(
                    conn, period_ids=ids, by=("period",), filters={"currency": cur, "review": agg.BILLABLE}
                )
            }
            if ids
            else {}
        )
        return [PeriodOverview(r.name, r.status, Costs.of(items.get(r.name)), cur) for r in rows]


def period_top(ctx: Context, period: str, by: str = "pi", limit: int = 10):
    refresh(ctx)
    with ctx.read() as conn:
        row = lookup.period(conn, period)
        currency, _ = _currency(ctx, conn, [row.id])
        return currency, tuple(
            (i[by], Costs.of(i))
            for i in agg.grouped(
                conn,
                period_ids=[row.id],
                by=(by,),
                filters={"currency": currency, "review": agg.BILLABLE},
                limit=limit,
            )
        )


def entities(
    ctx: Context, kind: str, period: str | None, *, text: str | None = None, limit: int = 500
) -> tuple[str, list[EntityRow]]:
    dim = _kind(kind)
    refresh(ctx)
    with ctx.read() as conn:
        ids = _ids(conn)
        if not ids:
            return ctx.settings.currency, []
        period = period if period in ids else next(iter(ids))
        currency, _ = _currency(ctx, conn, [ids[period]])
        f = {"currency": currency, "review": agg.BILLABLE}
        now = {i[dim]: Costs.of(i) for i in agg.grouped(conn, period_ids=[ids[period]], by=(dim,), filters=f)}
        ever = {
            i[dim]: Costs.of(i)
            for i in agg.grouped(conn, period_ids=list(ids.values()), by=(dim,), filters=f)
        }
    keys = sorted(ever, key=lambda k: (-now.get(k, Costs()).billed, -ever[k].billed, k or ""))
    if text:
        keys = [k for k in keys if text.lower() in (k or "(none)").lower()]
    return currency, [EntityRow(k, now.get(k, Costs()), ever[k]) for k in keys[:limit]]


def entity(ctx: Context, kind: str, key: str, period: str | None) -> EntityDetail:
    dim = _kind(kind)
    other = "project" if dim == "pi" else "pi"
    refresh(ctx)
    value = None if key == "" else key
    with ctx.read() as conn:
        ids = _ids(conn)
        if not ids:
            raise NotFound("no data has been imported yet")
        period = period if period in ids else next(iter(ids))
        currency, _ = _currency(ctx, conn, [ids[period]])
        f = {"currency": currency, "review": agg.BILLABLE, dim: agg.NULL if value is None else value}
        ever = Costs.of(next(iter(agg.grouped(conn, period_ids=list(ids.values()), filters=f)), None))
        if ever.rows == 0:
            raise NotFound(f"{'PI' if dim == 'pi' else 'project'} {key!r} has no charges")
        pid = [ids[period]]
        totals = Costs.of(next(iter(agg.grouped(conn, period_ids=pid, filters=f)), None))

        def by(d):
            return tuple(
                (i[d], Costs.of(i)) for i in agg.grouped(conn, period_ids=pid, by=(d,), filters=f, limit=50)
            )

        return EntityDetail(
            dim,
            value,
            period,
            currency,
            totals,
            by("service"),
            by("source"),
            by(other),
            _trend(conn, ids, period, currency, "service", f),
            ever,
        )


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}: expected pi or project")
    return KINDS[kind]
