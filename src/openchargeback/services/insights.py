"""Dashboard, period overview, projects and PIs: totals read from the charge rollup,
which is brought up to date first (see storage/rollups.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.money import ZERO
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.ingest.history import ImportSummary, summary_of
from openchargeback.services.periods import period_names
from openchargeback.storage import aggregates as agg
from openchargeback.storage import imports as imports_repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import portal as portal_repo
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
class Series:
    key: str | None  # the value of the trend's dimension (None: charges without one)
    label: str  # as people know it: a source's display name
    values: tuple[Decimal, ...]  # one per period


@dataclass(frozen=True)
class Trend:
    by: str | None  # the dimension of the series (source, service), a filter of the charges page
    periods: tuple[str, ...]  # the periods that exist, oldest first, up to TREND
    series: tuple[Series, ...]


@dataclass(frozen=True)
class Change:
    """A figure against the same figure of the previous period."""

    amount: Decimal
    percent: Decimal | None  # None: nothing to compare with (new)

    @property
    def new(self) -> bool:
        return self.percent is None


def change(now: Decimal | int, before: Decimal | int | None) -> Change:
    """``now`` against ``before``: the difference and its percentage of ``before`` (to one
    decimal, half-up); "new" when there was nothing before (no period, or zero)."""
    now, before = Decimal(now), Decimal(before or 0)
    if not before:
        return Change(now, None)
    percent = ((now - before) * 100 / abs(before)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return Change(now - before, percent)


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
    top_pis: tuple[tuple[str | None, str | None, Costs], ...]  # email, name in the registry, costs
    top_projects: tuple[tuple[str | None, Costs], ...]
    recent_imports: tuple[ImportSummary, ...]
    trend: Trend
    other_currencies: tuple[str, ...] = ()
    previous: str | None = None  # the period before, the one the changes compare with
    changes: dict[str, Change] = field(default_factory=dict)  # billed, list, subsidy, pis, projects


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
    name: str | None = None  # a PI's name in the registry


@dataclass(frozen=True)
class EntityDetail:
    kind: str
    key: str | None
    period: str
    currency: str
    totals: Costs
    by_service: tuple[tuple[str | None, Costs], ...]
    by_source: tuple[tuple[str, str, Costs], ...]  # name, display name, costs
    related: tuple[tuple[str | None, Costs], ...]  # PIs of a project, projects of a PI
    trend: Trend
    all_time: Costs = field(default_factory=Costs)
    name: str | None = None  # a PI's name in the registry


def refresh(ctx: Context, period_ids: list[int] | None = None) -> None:
    with ctx.read() as conn:
        todo = rollups.stale(conn, period_ids)
    if not todo:
        return
    with ctx.write() as conn:
        rollups.lock(conn, sorted(todo))  # many readers find it stale at once: one rebuilds
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


def _trend_names(ids: dict[str, int], period: str) -> list[str]:
    """The periods that exist up to ``period``, the last TREND of them, oldest first."""
    return sorted(n for n in ids if n <= period)[-TREND:]


def _display_names(conn) -> dict[str, str]:
    return {r.name: r.display_name or r.name for r in sources_repo.list_all(conn)}


def _trend(
    conn, ids: dict[str, int], period: str, currency: str, by: str, filters: dict | None = None
) -> Trend:
    names = _trend_names(ids, period)
    f = {"currency": currency, "review": agg.BILLABLE, **(filters or {})}
    items = agg.grouped(conn, period_ids=[ids[n] for n in names], by=("period", by), filters=f, order="group")
    labels = _display_names(conn) if by == "source" else {}
    series: dict[str | None, list[Decimal]] = {}
    for i in items:
        series.setdefault(i[by], [ZERO] * len(names))[names.index(i["period"])] = i["billed"]
    shown = {k: v for k, v in series.items() if any(v)}  # a series of zeros has no bar to show
    ordered = sorted(shown.items(), key=lambda kv: (-sum(kv[1]), kv[0] or ""))
    return Trend(
        by,
        tuple(names),
        tuple(Series(k, labels.get(k, k) if k else "(none)", tuple(v)) for k, v in ordered),
    )


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
                Trend(None, (), ()),
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
        by_source = _by_source(conn, [pid], f)
        pi_items = agg.grouped(conn, period_ids=[pid], by=("pi",), filters=f, limit=8)
        pi_names = _pi_names(conn, [i["pi"] for i in pi_items])
        top_pis = tuple((i["pi"], pi_names.get(i["pi"]), Costs.of(i)) for i in pi_items)
        top_projects = tuple(
            (i["project"], Costs.of(i))
            for i in agg.grouped(conn, period_ids=[pid], by=("project",), filters=f, limit=8)
        )
        pis = agg.distinct_count(conn, period_ids=[pid], dim="pi", filters=f)
        projects = agg.distinct_count(conn, period_ids=[pid], dim="project", filters=f)
        previous = next((n for n in names if n < period), None)  # names are newest first
        if previous is None:
            changes = {k: change(v, None) for k, v in _figures(total, pis, projects).items()}
        else:
            before = [ids[previous]]
            was = _figures(
                Costs.of(next(iter(agg.grouped(conn, period_ids=before, filters=f)), None)),
                agg.distinct_count(conn, period_ids=before, dim="pi", filters=f),
                agg.distinct_count(conn, period_ids=before, dim="project", filters=f),
            )
            changes = {k: change(v, was[k]) for k, v in _figures(total, pis, projects).items()}
        return Dashboard(
            period,
            status,
            currency,
            names,
            total,
            pis,
            projects,
            pending,
            by_source,
            top_pis,
            top_projects,
            recent,
            _trend(conn, ids, period, currency, "source"),
            others,
            previous,
            changes,
        )


def _figures(costs: Costs, pis: int, projects: int) -> dict[str, Decimal | int]:
    """The dashboard's figures that are compared with the previous period."""
    return {
        "billed": costs.billed,
        "list": costs.list,
        "subsidy": costs.subsidy,
        "pis": pis,
        "projects": projects,
    }


def _by_source(conn, period_ids: list[int], filters: dict) -> tuple[tuple[str, str, Costs], ...]:
    labels = _display_names(conn)
    return tuple(
        (i["source"], labels.get(i["source"], i["source"]), Costs.of(i))
        for i in agg.grouped(conn, period_ids=period_ids, by=("source",), filters=filters)
    )


def _pi_names(conn, emails: list[str | None]) -> dict[str | None, str]:
    """PIs' names as the registry knows them (by email, as the charges carry it)."""
    known = [e for e in emails if e]
    return {r.email: r.name for r in portal_repo.pis_named(conn, known) if r.name} if known else {}


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
        names = _pi_names(conn, list(ever)) if dim == "pi" else {}
    keys = sorted(ever, key=lambda k: (-now.get(k, Costs()).billed, -ever[k].billed, k or ""))
    if text:
        keys = [k for k in keys if text.lower() in f"{k or '(none)'} {names.get(k, '')}".lower()]
    return currency, [EntityRow(k, now.get(k, Costs()), ever[k], names.get(k)) for k in keys[:limit]]


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
            _by_source(conn, pid, f),
            by(other),
            _trend(conn, ids, period, currency, "service", f),
            ever,
            _pi_names(conn, [value]).get(value) if dim == "pi" else None,
        )


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}: expected pi or project")
    return KINDS[kind]
