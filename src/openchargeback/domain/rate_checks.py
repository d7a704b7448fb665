"""Validation of a rate table as ordered pure passes: units, prices, dates, overlaps
and gaps, subsidies. Each problem names the rate (its position in the table, service,
resource, selectors and start) or the subsidy, and says what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from openchargeback.domain.rates import SLURM_RESOURCE_UNIT, Rate, RateTable, Subsidy


@dataclass(frozen=True)
class RateProblem:
    severity: str  # error | warning
    subject: str  # the rate or subsidy it is about
    message: str

    def describe(self) -> str:
        return f"{self.severity}: {self.subject}: {self.message}"


@dataclass
class _Check:
    table: RateTable
    problems: list[RateProblem] = field(default_factory=list)

    def add(self, severity: str, subject: str, message: str) -> None:
        self.problems.append(RateProblem(severity, subject, message))


def check(table: RateTable) -> list[RateProblem]:
    """Every problem of a rate table, as ordered passes: units, prices, dates, overlaps
    and gaps, subsidies. Errors make pricing ambiguous or impossible; warnings do not."""
    c = _Check(table)
    for pass_ in (
        _check_units,
        _check_prices,
        _check_dates,
        _check_series,
        _check_ambiguous,
        _check_subsidies,
    ):
        pass_(c)
    return c.problems


def _check_units(c: _Check) -> None:
    for r in c.table.rates:
        if r.unit not in c.table.units:
            c.add(
                "error",
                r.label,
                f"unknown unit {r.unit!r}; known: {', '.join(sorted(c.table.units))} "
                f"(declare site units under `units:`)",
            )
        implied = SLURM_RESOURCE_UNIT.get(r.resource) if r.service == "hpc" else None
        if implied and r.unit != implied:
            c.add("error", r.label, f"resource {r.resource} is measured in {implied}, not {r.unit}")
        if r.service == "storage" and r.unit in c.table.units and c.table.units[r.unit] != "storage":
            c.add(
                "error",
                r.label,
                f"storage is priced per tb-month, tib-month, gb-month or gib-month, not {r.unit}",
            )


def _check_prices(c: _Check) -> None:
    for r in c.table.rates:
        missing = [cls for cls in c.table.classes if cls not in r.prices]
        if missing:
            c.add("error", r.label, f"no price for rate class {', '.join(missing)}")


def _check_dates(c: _Check) -> None:
    items: tuple[Rate | Subsidy, ...] = (*c.table.rates, *c.table.subsidies)
    for item in items:
        subject = item.label if isinstance(item, Rate) else f"subsidy {item.name!r}"
        if item.effective_to is not None and item.effective_to <= item.effective_from:
            c.add(
                "error", subject, f"ends ({item.effective_to}) on or before it starts ({item.effective_from})"
            )
        for d, word in ((item.effective_from, "starts"), (item.effective_to, "ends")):
            if d is not None and d.day != 1:
                c.add(
                    "warning",
                    subject,
                    f"{word} on {d}, not on the first of a month: lines are "
                    f"priced at the rate in force on their period's first day",
                )


def _check_series(c: _Check) -> None:
    by_key: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[Rate]] = {}
    for r in c.table.rates:
        by_key.setdefault(r.key, []).append(r)
    for rates in by_key.values():
        rates.sort(key=lambda r: r.effective_from)
        for a, b in zip(rates, rates[1:], strict=False):
            if a.effective_to is None or b.effective_from < a.effective_to:
                until = f"until {a.effective_to}" if a.effective_to else "with no end"
                c.add(
                    "error",
                    b.label,
                    f"overlaps {a.label} ({until}); end the earlier rate "
                    f"(to: {b.effective_from}) or remove one",
                )
            elif b.effective_from > a.effective_to:
                c.add(
                    "warning",
                    b.label,
                    f"gap after {a.label}: no price from {a.effective_to} to {b.effective_from}",
                )


def _check_ambiguous(c: _Check) -> None:
    """Two rates of equal rank that can both match one line (``qos: high`` and
    ``partition: bigmem`` for a bigmem job in high) need a more specific rate for the
    combination, or pricing such a line is refused."""
    rates = c.table.rates
    for i, a in enumerate(rates):
        for b in rates[i + 1 :]:
            if a.key == b.key or (a.service, a.resource) != (b.service, b.resource):
                continue
            if len(a.selectors) != len(b.selectors) or not _dates_overlap(a, b):
                continue
            union = dict(a.selectors)
            if any(union.get(k, v) != v for k, v in b.selectors):
                continue  # they never match the same line
            union.update(b.selectors)
            covered = any(
                len(r.selectors) > len(a.selectors)
                and all(union.get(k) == v for k, v in r.selectors)
                and (r.service, r.resource) == (a.service, a.resource)
                and _dates_overlap(r, a)
                for r in rates
            )
            if not covered:
                combo = ", ".join(f"{k} {v}" for k, v in sorted(union.items()))
                c.add(
                    "error",
                    b.label,
                    f"ties with {a.label} for {a.service}/{a.resource} lines with "
                    f"{combo}; add a rate for that combination",
                )


def _check_subsidies(c: _Check) -> None:
    seen: set[str] = set()
    for s in c.table.subsidies:
        subject = f"subsidy {s.name!r}"
        if s.name in seen:
            c.add("error", subject, "the name is used twice; names key the allowance ledger")
        seen.add(s.name)
        if s.unit is not None and s.unit not in c.table.units:
            c.add("error", subject, f"unknown unit {s.unit!r}")
        cls = dict(s.selectors).get("rate_class")
        if cls is not None and cls not in c.table.classes:
            c.add("error", subject, f"unknown rate class {cls!r}")
    pct = [s for s in c.table.subsidies if s.percent is not None]
    for i, a in enumerate(pct):
        for b in pct[i + 1 :]:
            if a.selectors == b.selectors and _dates_overlap(a, b):
                c.add(
                    "error",
                    f"subsidy {b.name!r}",
                    f"applies to the same lines as subsidy "
                    f"{a.name!r} at the same time; only the most specific percentage applies",
                )


def _dates_overlap(a: Rate | Subsidy, b: Rate | Subsidy) -> bool:
    a_end = a.effective_to or date.max
    b_end = b.effective_to or date.max
    return a.effective_from < b_end and b.effective_from < a_end
