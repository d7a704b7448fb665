"""Dividing money between funds, choosing the split in force, and budget thresholds.

Splitting (:func:`split_amount`): the amount is first rounded half-up to the currency's
minor unit, then divided by the percentages with the leftover policy of
:mod:`openchargeback.domain.money` (:func:`~openchargeback.domain.money.distribute`: each
share truncated toward zero, the units left over to the largest share, ties broken by
the smallest fund code). So the parts always add up to the rounded amount exactly, and
the same inputs always give the same parts.

Splits take effect on whole billing periods: a split covers the periods ``first`` to
``last`` inclusive (``last`` None: open-ended). A split may be scoped to one source or
one service; for a charge, a service-scoped split wins over a source-scoped one, which
wins over a project-wide one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import distribute, round_minor
from openchargeback.domain.periods import Period

HUNDRED = Decimal(100)
SCOPES = ("all", "source", "service")
_CTX = Context(prec=80, traps=[InvalidOperation])
_PERCENT_PLACES = 6


# -- percentages ----------------------------------------------------------------------------------
def check_shares(
    shares: Sequence[tuple[str, Decimal]], what: str = "split"
) -> tuple[tuple[str, Decimal], ...]:
    """Shares as (fund, percent): each more than 0, at most 6 decimals, funds distinct,
    adding up to exactly 100."""
    if not shares:
        raise InvalidInput(f"{what}: give at least one fund and its percentage")
    seen, out = set(), []
    for fund, pct in shares:
        if not isinstance(pct, Decimal) or not pct.is_finite():
            raise InvalidInput(f"{what}: percentage of {fund} is not a number: {pct!r}")
        if fund in seen:
            raise InvalidInput(f"{what}: fund {fund} is given twice")
        seen.add(fund)
        if pct <= 0 or pct > HUNDRED:
            raise InvalidInput(f"{what}: percentage of {fund} must be more than 0 and at most 100, not {pct}")
        if pct != pct.quantize(Decimal(1).scaleb(-_PERCENT_PLACES), context=_CTX):
            raise InvalidInput(f"{what}: percentage of {fund} has more than {_PERCENT_PLACES} decimals")
        out.append((fund, pct))
    total = sum((p for _, p in out), Decimal(0))
    if total != HUNDRED:
        raise InvalidInput(f"{what}: percentages add up to {total}, expected 100")
    return tuple(out)


def split_amount(
    amount: Decimal, shares: Sequence[tuple[str, Decimal]], minor_digits: int = 2
) -> tuple[Decimal, ...]:
    """The parts of ``amount`` for each share, in the order given; they add up to
    ``round_minor(amount)`` exactly (see the module docstring for the policy)."""
    shares = check_shares(shares)
    whole = round_minor(amount, minor_digits)
    exact = [_CTX.divide(_CTX.multiply(whole, pct), HUNDRED) for _, pct in shares]
    return distribute(whole, exact, minor_digits, [fund for fund, _ in shares])


# -- splits in force ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    project_id: str
    first: Period
    last: Period | None  # inclusive; None: open-ended
    shares: tuple[tuple[str, Decimal], ...]
    scope: str = "all"  # all | source | service
    scope_value: str | None = None
    id: int | None = None

    def covers(self, period: Period) -> bool:
        return self.first <= period and (self.last is None or period <= self.last)

    def overlaps(self, first: Period, last: Period | None) -> bool:
        return (last is None or self.first <= last) and (self.last is None or first <= self.last)

    def applies_to(self, source: str | None, service: str | None) -> bool:
        if self.scope == "all":
            return True
        value = source if self.scope == "source" else service
        return value is not None and value.casefold() == (self.scope_value or "").casefold()

    @property
    def range_text(self) -> str:
        return f"{self.first}..{self.last or ''}"


_PRECEDENCE = {"service": 0, "source": 1, "all": 2}


def select_split(
    splits: Iterable[Split],
    project_id: str | None,
    period: Period,
    source: str | None = None,
    service: str | None = None,
) -> Split | None:
    """The split in force for a charge of ``project_id`` in ``period``, or None."""
    if not project_id:
        return None
    best = None
    for s in splits:
        if (
            s.project_id == project_id
            and s.covers(period)
            and s.applies_to(source, service)
            and (best is None or _PRECEDENCE[s.scope] < _PRECEDENCE[best.scope])
        ):
            best = s
    return best


def carve(existing: Split, first: Period, last: Period | None) -> list[tuple[Period, Period | None]]:
    """What remains of ``existing`` once ``[first, last]`` is taken out: 0, 1 or 2 ranges."""
    out: list[tuple[Period, Period | None]] = []
    if existing.first < first:
        out.append((existing.first, first.previous()))
    if last is not None and (existing.last is None or last < existing.last):
        out.append((last.next(), existing.last))
    return out


def check_range(first: Period, last: Period | None) -> None:
    if last is not None and last < first:
        raise InvalidInput(f"split ends ({last}) before it starts ({first})")


# -- budgets --------------------------------------------------------------------------------------
def fiscal_year(period: Period, start_month: int) -> tuple[str, Period, Period]:
    """(label, first period, last period) of the fiscal year containing ``period``.
    A fiscal year is named by the calendar year it ends in (FY2025 = 2024-07..2025-06
    when it starts in July)."""
    if not 1 <= start_month <= 12:
        raise InvalidInput(f"fiscal year start month {start_month}: expected 1 to 12")
    start_year = period.year if period.month >= start_month else period.year - 1
    first = Period(start_year, start_month)
    last = Period(start_year + (start_month != 1), (start_month - 2) % 12 + 1)
    return f"FY{last.year}", first, last


def periods_between(first: Period, last: Period) -> list[Period]:
    out, p = [], first
    while p <= last:
        out.append(p)
        p = p.next()
    return out


def percent_used(spend: Decimal, budget: Decimal) -> Decimal:
    """Spend as a percentage of the budget, to 0.1 %."""
    return round_minor(_CTX.divide(_CTX.multiply(spend, HUNDRED), budget), 1)


def crossed_thresholds(
    spend: Decimal, budget: Decimal, thresholds: Iterable[int], already: Iterable[int] = ()
) -> tuple[int, ...]:
    """Thresholds (percent) that ``spend`` has reached and that were not raised before."""
    if budget <= 0:
        return ()
    done = set(already)
    return tuple(sorted(t for t in set(thresholds) if t not in done and spend * HUNDRED >= budget * t))
