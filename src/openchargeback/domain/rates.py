"""Rate tables: prices per unit with effective dates, rate classes and subsidies.

A rate table is plain data (loaded from YAML by ``convert.ratefile``) turned into
frozen dataclasses here. Amounts are Decimal, never float. Dates are calendar days;
``effective_from`` is inclusive and ``effective_to`` exclusive (None: open-ended).

Validation passes are in ``domain.rate_checks``.

A price applies to a usage line when its service and resource match and every
selector it names (partition, QOS, storage tier, GPU type) equals the line's; of the
prices in force on the day the line is priced, the one naming the most selectors
wins. Two prices of equal rank for one line are an overlap, reported by
:func:`check` and refused at pricing.

Subsidies (see ``domain.pricing`` for how they combine) are either a percentage of
the list cost or a free allowance of a unit per project per month; either may carry
a fiscal-year cap: the most money the subsidy grants one project in a fiscal year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.periods import Period

# unit -> the dimension it measures. Slurm resources imply their unit.
UNITS: dict[str, str] = {
    "core-hour": "cpu",
    "gpu-hour": "gpu",
    "gb-hour": "mem",
    "billing-hour": "billing",
    "node-hour": "node",
    "tb-month": "storage",
    "tib-month": "storage",
    "gb-month": "storage",
    "gib-month": "storage",
    "hour": "time",
    "day": "time",
    "month": "time",
    "each": "count",
    "session": "count",
}
SLURM_RESOURCE_UNIT = {
    "cpu": "core-hour",
    "gpu": "gpu-hour",
    "mem": "gb-hour",
    "billing": "billing-hour",
    "node": "node-hour",
}
SELECTORS = ("partition", "qos", "tier", "gpu_type")
SUBSIDY_SELECTORS = ("service", "resource", *SELECTORS, "account", "project", "rate_class")


@dataclass(frozen=True)
class Rate:
    service: str
    resource: str
    unit: str
    prices: Mapping[str, Decimal]  # rate class -> price per unit
    effective_from: date
    effective_to: date | None = None
    selectors: tuple[tuple[str, str], ...] = ()  # (selector, value), sorted
    line: int = 0  # position in the table (1-based), for messages

    @property
    def label(self) -> str:
        sel = "".join(f", {k} {v}" for k, v in self.selectors)
        return f"rate #{self.line} ({self.service}/{self.resource}{sel}, from {self.effective_from})"

    @property
    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.service, self.resource, self.selectors)

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def matches(self, service: str, resource: str, attrs: Mapping[str, str | None]) -> bool:
        return (
            self.service == service
            and self.resource == resource
            and all(attrs.get(k) == v for k, v in self.selectors)
        )


@dataclass(frozen=True)
class Subsidy:
    name: str
    percent: Decimal | None = None  # 0..100 of the list cost
    allowance: Decimal | None = None  # free quantity of `unit` per project per month
    unit: str | None = None
    fiscal_year_cap: Decimal | None = None  # most money granted per project per fiscal year
    selectors: tuple[tuple[str, str], ...] = ()
    effective_from: date = date(1970, 1, 1)
    effective_to: date | None = None
    line: int = 0

    @property
    def kind(self) -> str:
        return "allowance" if self.allowance is not None else "percent"

    @property
    def needs_ledger(self) -> bool:
        """Consumption that must be remembered between runs."""
        return self.allowance is not None or self.fiscal_year_cap is not None

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def matches(self, attrs: Mapping[str, str | None]) -> bool:
        return all(attrs.get(k) == v for k, v in self.selectors)


@dataclass(frozen=True)
class RateTable:
    name: str
    currency: str
    provider: str
    classes: tuple[str, ...]  # the first is the default
    class_members: Mapping[str, Mapping[str, frozenset[str]]]  # class -> {projects|accounts: names}
    services: Mapping[str, tuple[str, str]]  # service key -> (ServiceName, ServiceCategory)
    units: Mapping[str, str]
    rates: tuple[Rate, ...]
    subsidies: tuple[Subsidy, ...] = ()
    billing_account: str = ""

    @property
    def needs_ledger(self) -> bool:
        return any(s.needs_ledger for s in self.subsidies)

    def rate_class(self, project: str | None, account: str | None) -> str:
        """A project's class wins over its account's; otherwise the default (first)."""
        for kind, value in (("projects", project), ("accounts", account)):
            if value is None:
                continue
            for cls in self.classes:
                if value in self.class_members.get(cls, {}).get(kind, ()):
                    return cls
        return self.classes[0]

    def service_names(self, service: str) -> tuple[str, str]:
        return self.services.get(service, (service, "Other"))

    def find(self, service: str, resource: str, attrs: Mapping[str, str | None], day: date) -> Rate:
        """The price for a usage line on ``day``; InvalidInput naming what is missing."""
        found = [r for r in self.rates if r.in_force(day) and r.matches(service, resource, attrs)]
        if not found:
            sel = ", ".join(f"{k} {v}" for k, v in attrs.items() if v is not None and k in SELECTORS)
            raise InvalidInput(
                f"rate table {self.name!r}: no price in force on {day} for {service}/{resource}"
                + (f" ({sel})" if sel else "")
                + "; add a rate for it"
            )
        best = max(len(r.selectors) for r in found)
        top = [r for r in found if len(r.selectors) == best]
        if len(top) > 1:
            raise InvalidInput(
                f"rate table {self.name!r}: {top[0].label} and {top[1].label} "
                f"both apply on {day}; make one more specific or end one"
            )
        return top[0]

    def resources(self, service: str) -> tuple[str, ...]:
        """Resources the table prices for a service (sorted)."""
        return tuple(sorted({r.resource for r in self.rates if r.service == service}))

    def in_force(self, day: date) -> tuple[tuple[Rate, ...], tuple[Subsidy, ...]]:
        return (
            tuple(r for r in self.rates if r.in_force(day)),
            tuple(s for s in self.subsidies if s.in_force(day)),
        )


# -- fiscal years ------------------------------------------------------------------------


def fiscal_year(period: Period, start_month: int = 1) -> str:
    """The fiscal year holding ``period``, named by the calendar year it ends in
    (with a July start, 2025-07 .. 2026-06 is FY2026)."""
    if not 1 <= start_month <= 12:
        raise InvalidInput(f"fiscal year start month {start_month} is not a month (1..12)")
    year = period.year + (1 if start_month > 1 and period.month >= start_month else 0)
    return f"FY{year}"


def fiscal_year_periods(period: Period, start_month: int = 1) -> tuple[Period, Period]:
    """First and last period of the fiscal year holding ``period``."""
    first_year = period.year - (1 if period.month < start_month else 0)
    first = Period(first_year, start_month)
    last = first
    for _ in range(11):
        last = last.next()
    return first, last


# -- building from loaded data -------------------------------------------------------------


class _Problems:
    def __init__(self, where: str):
        self.where = where
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(f"{self.where}: {text}")

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput("\n".join(self.items))


def _text(v: object, what: str, p: _Problems, required: bool = True) -> str | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            p.add(f"{what} is required")
        return None
    if isinstance(v, bool) or not isinstance(v, str | int):
        p.add(f"{what}: expected text, found {v!r}")
        return None
    return str(v).strip()


def _decimal(
    v: object, what: str, p: _Problems, *, low: Decimal | None = Decimal(0), high: Decimal | None = None
) -> Decimal | None:
    if isinstance(v, float):
        p.add(f"{what}: {v!r} was read as a binary float; the loader must keep decimal text")
        return None
    if isinstance(v, bool) or v is None:
        p.add(f"{what}: expected a decimal number, found {v!r}")
        return None
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        p.add(f"{what}: expected a decimal number such as 0.025, found {v!r}")
        return None
    if not d.is_finite() or (low is not None and d < low) or (high is not None and d > high):
        bounds = f" between {low} and {high}" if high is not None else f" of at least {low}"
        p.add(f"{what}: expected a number{bounds}, found {v}")
        return None
    return d


def _day(v: object, what: str, p: _Problems) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v).strip())
    except ValueError:
        p.add(f"{what}: expected a date such as 2025-07-01, found {v!r}")
        return None


def _keys(d: Mapping[Any, Any], allowed: set[str], what: str, p: _Problems) -> None:
    for k in d:
        if k not in allowed:
            p.add(f"{what}: unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")


def _selectors(
    d: Mapping[Any, Any], names: tuple[str, ...], what: str, p: _Problems
) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for k in names:
        if d.get(k) is not None:
            v = _text(d[k], f"{what}.{k}", p)
            if v is not None:
                out.append((k, v))
    return tuple(sorted(out))


_RATE_KEYS = {"service", "resource", "unit", "price", "from", "to", *SELECTORS}
_SUBSIDY_KEYS = {"name", "percent", "allowance", "unit", "fiscal_year_cap", "from", "to", *SUBSIDY_SELECTORS}
_TOP_KEYS = {
    "name",
    "currency",
    "provider",
    "billing_account",
    "classes",
    "class_members",
    "services",
    "units",
    "rates",
    "subsidies",
}


def _prices(v: object, classes: tuple[str, ...], what: str, p: _Problems) -> dict[str, Decimal]:
    if isinstance(v, Mapping):
        out: dict[str, Decimal] = {}
        for cls, amount in v.items():
            if cls not in classes:
                p.add(f"{what}.price: unknown rate class {cls!r} (classes: {', '.join(classes)})")
                continue
            d = _decimal(amount, f"{what}.price.{cls}", p)
            if d is not None:
                out[cls] = d
        return out
    d = _decimal(v, f"{what}.price", p)
    return {cls: d for cls in classes} if d is not None else {}


def build_rate_table(data: object, where: str = "rate table") -> RateTable:
    """A RateTable from loaded YAML data; InvalidInput listing every structural problem
    (the file, the entry and the key). Semantic checks are :func:`check`'s."""
    p = _Problems(where)
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where}: expected a mapping with name, currency and rates")
    _keys(data, _TOP_KEYS, "top level", p)
    name = _text(data.get("name"), "name", p) or ""
    currency = (_text(data.get("currency", "USD"), "currency", p) or "USD").upper()
    provider = _text(data.get("provider", "Research Computing"), "provider", p) or ""
    raw_classes = data.get("classes") or ["internal"]
    classes = tuple(str(c).strip() for c in raw_classes) if isinstance(raw_classes, list) else ()
    if not classes:
        p.add("classes: expected a list of rate class names such as [internal, external]")
        classes = ("internal",)
    members: dict[str, dict[str, frozenset[str]]] = {}
    for cls, d in (data.get("class_members") or {}).items():
        if cls not in classes:
            p.add(f"class_members: unknown rate class {cls!r} (classes: {', '.join(classes)})")
            continue
        if not isinstance(d, Mapping):
            p.add(f"class_members.{cls}: expected projects: [...] and/or accounts: [...]")
            continue
        _keys(d, {"projects", "accounts"}, f"class_members.{cls}", p)
        members[cls] = {k: frozenset(str(x) for x in (d.get(k) or ())) for k in ("projects", "accounts")}
    services = {}
    for key, d in (data.get("services") or {}).items():
        d = d or {}
        if not isinstance(d, Mapping):
            p.add(f"services.{key}: expected name: and category:")
            continue
        _keys(d, {"name", "category"}, f"services.{key}", p)
        services[str(key)] = (str(d.get("name") or key), str(d.get("category") or "Other"))
    units = dict(UNITS)
    for u in data.get("units") or ():
        units.setdefault(str(u), "custom")
    rates = []
    for i, r in enumerate(data.get("rates") or (), start=1):
        what = f"rates[{i}]"
        if not isinstance(r, Mapping):
            p.add(f"{what}: expected a mapping with service, resource, unit, price, from")
            continue
        _keys(r, _RATE_KEYS, what, p)
        service = _text(r.get("service"), f"{what}.service", p)
        resource = _text(r.get("resource"), f"{what}.resource", p)
        unit = _text(r.get("unit"), f"{what}.unit", p)
        start = _day(r.get("from"), f"{what}.from", p) if "from" in r else None
        if "from" not in r:
            p.add(f"{what}.from is required (the first day the price applies)")
        end = _day(r["to"], f"{what}.to", p) if r.get("to") is not None else None
        prices = _prices(r.get("price"), classes, what, p) if "price" in r else {}
        if "price" not in r:
            p.add(f"{what}.price is required (one amount, or one per rate class)")
        if service is None or resource is None or unit is None or start is None:
            continue
        rates.append(
            Rate(service, resource, unit, prices, start, end, _selectors(r, SELECTORS, what, p), line=i)
        )
    subsidies = []
    for i, s in enumerate(data.get("subsidies") or (), start=1):
        what = f"subsidies[{i}]"
        if not isinstance(s, Mapping):
            p.add(f"{what}: expected a mapping with name and percent or allowance")
            continue
        _keys(s, _SUBSIDY_KEYS, what, p)
        sname = _text(s.get("name"), f"{what}.name", p)
        percent = (
            _decimal(s["percent"], f"{what}.percent", p, high=Decimal(100))
            if s.get("percent") is not None
            else None
        )
        allowance = (
            _decimal(s["allowance"], f"{what}.allowance", p) if s.get("allowance") is not None else None
        )
        if (percent is None) == (allowance is None):
            p.add(f"{what}: give exactly one of percent or allowance")
        unit = _text(s.get("unit"), f"{what}.unit", p, required=allowance is not None)
        cap = (
            _decimal(s["fiscal_year_cap"], f"{what}.fiscal_year_cap", p)
            if s.get("fiscal_year_cap") is not None
            else None
        )
        start = _day(s["from"], f"{what}.from", p) if s.get("from") is not None else date(1970, 1, 1)
        end = _day(s["to"], f"{what}.to", p) if s.get("to") is not None else None
        if sname is None or start is None:
            continue
        subsidies.append(
            Subsidy(
                sname,
                percent,
                allowance,
                unit,
                cap,
                _selectors(s, SUBSIDY_SELECTORS, what, p),
                start,
                end,
                line=i,
            )
        )
    p.raise_if_any()
    return RateTable(
        name,
        currency,
        provider,
        classes,
        members,
        services,
        units,
        tuple(rates),
        tuple(subsidies),
        billing_account=str(data.get("billing_account") or name),
    )
