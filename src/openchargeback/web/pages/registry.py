"""What the web registry pages need, one call per request: registry lists and forms,
the project page (its charges and its registry record, the fund splits in force, the
alerts), the split form and its submission, a period's adjustments and the budget
panels. Every change goes through the engine's services (:mod:`services.registry`,
:mod:`services.splits`, :mod:`services.adjustments`), which validate and audit it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict

from openchargeback.domain import registry as reg
from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.money import ZERO
from openchargeback.domain.periods import Period
from openchargeback.services import insights, periods, registry, sources
from openchargeback.services.context import Context
from openchargeback.services.insights import EntityDetail
from openchargeback.services.registry import BudgetAlert, BudgetStatus, SplitInfo

KIND_LABELS = {"pis": "PIs", "projects": "Projects", "funds": "Funds/orgs"}
FIELD_LABELS = {
    "email": "Email",
    "name": "Name",
    "department": "Department",
    "billing_contacts": "Billing contacts",
    "project_id": "Project id",
    "pi_email": "PI",
    "status": "Status",
    "start_date": "Start date",
    "end_date": "End date",
    "default_fund": "Default fund/org",
    "budget": "Budget",
    "budget_per": "Budget per",
    "code": "Code",
    "description": "Description",
    "valid_from": "Valid from",
    "valid_to": "Valid to",
}
SPLIT_ROWS = 4  # fund rows on the split form


def kind_of(kind: str) -> str:
    if kind not in reg.KINDS:
        raise NotFound(f"there is no registry of {kind!r}: expected {', '.join(reg.KINDS)}")
    return kind


# -- lists and forms ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegistryList:
    kind: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]  # records as text, in key order
    total: int  # records before the text filter
    q: str


def registry_list(ctx: Context, kind: str, q: str | None = None) -> RegistryList:
    """Every record of a kind as text; ``q`` keeps those with the text in any field."""
    kind = kind_of(kind)
    rows = [reg.as_text(kind, r) for r in registry.list_records(ctx, kind)]
    needle = (q or "").strip().casefold()
    shown = [r for r in rows if not needle or any(needle in v.casefold() for v in r.values())]
    return RegistryList(kind, reg.columns(kind), tuple(shown), len(rows), (q or "").strip())


@dataclass(frozen=True)
class RegistryForm:
    kind: str
    key: str | None  # None: a new record
    columns: tuple[str, ...]
    values: dict[str, str]
    pis: tuple[str, ...]  # choices for a project's PI
    funds: tuple[str, ...]  # choices for a project's default fund


def registry_form(
    ctx: Context, kind: str, key: str | None = None, values: dict[str, str] | None = None
) -> RegistryForm:
    """A blank form, a record's form, or (``values``) the form as it was sent back."""
    kind = kind_of(kind)
    if values is None:
        values = (
            reg.as_text(kind, registry.get_record(ctx, kind, key))
            if key
            else {c: ("active" if c == "status" else "") for c in reg.columns(kind)}
        )
    pis = funds = ()
    if kind == "projects":
        pis = tuple(p.email for p in registry.list_records(ctx, "pis"))
        funds = tuple(f.code for f in registry.list_records(ctx, "funds"))
    return RegistryForm(kind, key, reg.columns(kind), dict(values), pis, funds)


def form_values(kind: str, sent: dict[str, str], *, editing: bool) -> dict[str, str]:
    """The record fields from a submitted form (the key left out when editing)."""
    cols = reg.columns(kind_of(kind))
    key = reg.KEYS[kind]
    return {c: str(sent.get(c, "")) for c in cols if not (editing and c == key)}


# -- the project page -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectRegistry:
    project: reg.Project | None  # None: not registered
    pi: reg.Pi | None
    default_fund: reg.Fund | None
    in_force: tuple[SplitInfo, ...]  # splits covering the period
    schedule: tuple[SplitInfo, ...]  # every split of the project, oldest first
    funds: dict[str, reg.Fund]  # the funds the splits name
    alerts: tuple[BudgetAlert, ...]  # raised for the project or the funds it is paid from
    has_budget: bool  # the project or one of its funds has a budget
    period_status: str | None


@dataclass(frozen=True)
class ProjectPage:
    key: str
    period: str | None
    entity: EntityDetail | None  # None: no charges yet
    registry: ProjectRegistry


def project_page(ctx: Context, key: str, period: str | None) -> ProjectPage:
    """A project's charges (when it has any) and its registry record, splits and alerts."""
    try:
        entity = insights.entity(ctx, "project", key, period)
    except NotFound:
        entity = None
    shown = entity.period if entity else (period or insights.default_period(ctx))
    info = project_registry(ctx, key, shown)
    if entity is None and info.project is None:
        raise NotFound(f"project {key!r} has no charges and is not in the registry")
    return ProjectPage(key, shown, entity, info)


def _record_or_none(ctx: Context, kind: str, key: str | None):
    if not key:
        return None
    try:
        return registry.get_record(ctx, kind, key)
    except NotFound:
        return None


def project_registry(ctx: Context, key: str, period: str | None) -> ProjectRegistry:
    project = _record_or_none(ctx, "projects", key)
    schedule = registry.list_splits(ctx, key) if project else ()
    p = Period.parse(period) if period else None
    in_force = tuple(s for s in schedule if p is not None and s.as_split().covers(p))
    used = {f for s in in_force for f, _ in s.shares}
    if project and project.default_fund:
        used.add(project.default_fund)
    alerts = tuple(
        a
        for a in registry.list_alerts(ctx, limit=200)
        if (a.holder_kind, a.holder) == ("project", key) or (a.holder_kind == "fund" and a.holder in used)
    )
    funds = {f: r for f in sorted(used) if (r := _record_or_none(ctx, "funds", f)) is not None}
    has_budget = bool(project and project.budget is not None) or any(
        r.budget is not None for r in funds.values()
    )
    status = next((x.status for x in periods.list_periods(ctx) if x.name == period), None)
    return ProjectRegistry(
        project,
        _record_or_none(ctx, "pis", project.pi_email) if project else None,
        funds.get(project.default_fund) if project and project.default_fund else None,
        in_force,
        schedule,
        funds,
        alerts,
        has_budget,
        status,
    )


def project_budget(ctx: Context, key: str, period: str | None) -> tuple[BudgetStatus, ...]:
    """Spend against budget of the project and of the funds it is paid from in ``period``
    (each in its own span: the period or the fiscal year)."""
    info = project_registry(ctx, key, period)
    if not info.has_budget or info.project is None:  # a budget is only found through the project
        return ()
    funds = set(info.funds) | ({info.project.default_fund} if info.project.default_fund else set())
    return tuple(
        s
        for s in registry.budget_status(ctx, period)
        if (s.holder_kind, s.holder) == ("project", key) or (s.holder_kind == "fund" and s.holder in funds)
    )


# -- splits ---------------------------------------------------------------------------------------
class SplitValues(TypedDict):
    """The split form's fields, as shown or as submitted."""

    first: str
    last: str
    scope: str
    sources: tuple[str, ...]
    services: str
    reason: str
    rows: list[tuple[str, str]]  # (fund, percent)


@dataclass(frozen=True)
class SplitForm:
    project: reg.Project
    schedule: tuple[SplitInfo, ...]
    funds: tuple[reg.Fund, ...]
    sources: tuple[str, ...]
    periods: tuple[tuple[str, str], ...]  # (name, status), newest first
    values: SplitValues


def split_form(ctx: Context, key: str, period: str | None, values: SplitValues | None = None) -> SplitForm:
    project = registry.get_record(ctx, "projects", key)
    schedule = registry.list_splits(ctx, key)
    if values is None:
        p = Period.parse(period) if period else None
        current = next(
            (s for s in schedule if p is not None and s.scope == "all" and s.as_split().covers(p)), None
        )
        rows = (
            [(f, str(pct)) for f, pct in current.shares]
            if current
            else ([(project.default_fund, "100")] if project.default_fund else [])
        )
        values = {
            "first": period or "",
            "last": "",
            "scope": "all",
            "sources": (),
            "services": "",
            "reason": "",
            "rows": rows,
        }
    shown = list(values["rows"])[:SPLIT_ROWS]
    values = {**values, "rows": shown + [("", "")] * (SPLIT_ROWS - len(shown))}
    return SplitForm(
        project,
        schedule,
        registry.list_records(ctx, "funds"),
        tuple(s.name for s in sources.list_sources(ctx)),
        tuple((x.name, x.status) for x in periods.list_periods(ctx)),
        values,
    )


def set_split(
    ctx: Context,
    key: str,
    rows: list[tuple[str, str]],
    first: str,
    last: str = "",
    *,
    scope: str = "all",
    scope_sources: tuple[str, ...] = (),
    services: str = "",
    reason: str = "",
    clear: bool = False,
) -> registry.SplitChange:
    """Set (or with ``clear``, remove) the split of a project from a submitted form: rows of
    (fund, percent) text, the first and last period, an optional scope."""
    shares = []
    if not clear:
        for fund, pct in rows:
            fund, pct = fund.strip(), pct.strip()
            if fund or pct:
                if not (fund and pct):
                    raise InvalidInput(
                        f"split of {key}: each row needs a fund and a percentage "
                        f"(got {fund or '(no fund)'} and {pct or '(no percentage)'})"
                    )
                shares.append(registry.parse_share(f"{fund}={pct}"))
        if not shares:
            raise InvalidInput(
                f"split of {key}: give at least one fund and its percentage, or clear the split"
            )
    if scope not in ("all", "sources", "services"):
        raise InvalidInput(f"split scope {scope!r}: expected all, sources or services")
    chosen_sources = tuple(s for s in scope_sources if s.strip()) if scope == "sources" else ()
    chosen_services = (
        tuple(x.strip() for x in services.replace(";", ",").split(",") if x.strip())
        if scope == "services"
        else ()
    )
    if scope != "all" and not (chosen_sources or chosen_services):
        raise InvalidInput(f"split of {key}: choose at least one of the {scope}, or apply it to all charges")
    return registry.set_split(
        ctx,
        key,
        shares,
        first.strip(),
        last.strip() or None,
        sources=chosen_sources,
        services=chosen_services,
        reason=reason.strip() or None,
    )


# -- adjustments ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdjustmentsPage:
    period: str | None
    status: str | None  # None: the period does not exist yet
    items: tuple[registry.AdjustmentInfo, ...]
    totals: tuple[tuple[str, Decimal], ...]  # currency, sum
    periods: tuple[str, ...]
    projects: tuple[str, ...]
    funds: tuple[str, ...]
    pis: tuple[str, ...]

    @property
    def writable(self) -> bool:
        return self.period is not None and self.status in (None, "open")


def adjustments_page(ctx: Context, period: str | None) -> AdjustmentsPage:
    names = tuple(x.name for x in periods.list_periods(ctx))
    period = Period.parse(period).name if period else (names[0] if names else None)
    items = registry.list_adjustments(ctx, period) if period else ()
    sums: dict[str, Decimal] = {}
    for a in items:
        sums[a.currency] = sums.get(a.currency, ZERO) + a.amount
    status = next((x.status for x in periods.list_periods(ctx) if x.name == period), None)
    return AdjustmentsPage(
        period,
        status,
        items,
        tuple(sorted(sums.items())),
        names,
        *(
            tuple(getattr(r, reg.KEYS[k]) for r in registry.list_records(ctx, k))
            for k in ("projects", "funds", "pis")
        ),
    )


def add_adjustment(
    ctx: Context,
    period: str,
    kind: str,
    amount: str,
    reason: str,
    *,
    pi_email: str = "",
    project_id: str = "",
    fund_org: str = "",
):
    """An adjustment from the form: ``kind`` credit or charge, ``amount`` without a sign."""
    if kind not in ("credit", "charge"):
        raise InvalidInput(f"adjustment kind {kind!r}: expected credit or charge")
    text = (amount or "").strip().replace(",", "")
    if not text:
        raise InvalidInput("an adjustment needs an amount")
    if text.startswith(("-", "+")):
        raise InvalidInput(f"amount {amount!r}: enter it without a sign and choose credit or charge")
    return registry.add_adjustment(
        ctx,
        period,
        ("-" if kind == "credit" else "") + text,
        reason,
        pi_email=pi_email,
        project_id=project_id,
        fund_org=fund_org,
    )


# -- budgets --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BudgetOverview:
    period: str | None
    fiscal_start_month: int
    statuses: tuple[BudgetStatus, ...]  # highest use first
    alerts: tuple[BudgetAlert, ...]  # raised, newest first

    @property
    def empty(self) -> bool:
        return not self.statuses and not self.alerts


def budget_overview(ctx: Context, period: str | None, *, alerts: int = 50) -> BudgetOverview:
    """Spend against every budget in the span containing ``period``, and the alerts raised."""
    return BudgetOverview(
        period,
        registry.fiscal_start(ctx),
        registry.budget_status(ctx, period),
        registry.list_alerts(ctx, limit=alerts),
    )


__all__ = [
    "FIELD_LABELS",
    "KIND_LABELS",
    "AdjustmentsPage",
    "BudgetOverview",
    "ProjectPage",
    "ProjectRegistry",
    "RegistryForm",
    "RegistryList",
    "SplitForm",
    "SplitValues",
    "add_adjustment",
    "adjustments_page",
    "budget_overview",
    "form_values",
    "kind_of",
    "project_budget",
    "project_page",
    "project_registry",
    "registry_form",
    "registry_list",
    "set_split",
    "split_form",
]
