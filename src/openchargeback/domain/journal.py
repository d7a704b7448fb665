"""Journal postings: what accounting posts for a period, balanced to the cent.

Where the money comes from: the allocation of the period's approved charges and
adjustments to funds (:mod:`openchargeback.services.registry.allocation`), whose lines are already
rounded per statement line and divided by fund splits. A line whose charges carry
different account codes is apportioned between them (:func:`apportion`: the parts add
up to the line exactly), so the journal's total is the allocation's total.

Double entry, per source and currency: one debit per charged fund/org, account,
project and PI; one credit to the source's recovery fund/org and account for the
whole. A net negative amount goes to the other column. Debits equal credits per source,
hence in total.

Account codes, first found wins:

- debit: the charge's ``account_code`` tag, else the ``account`` group parsed out of the
  charged fund/org, else the source's ``gl_account``, else ``journal.default_account``;
- credit: the source's ``gl_account``, else the ``account`` group of the recovery
  fund/org, else ``journal.default_account``.

Validation is an ordered list of pure passes (:mod:`openchargeback.domain.journal_checks`);
every problem they find is reported at once, naming the charge, source, fund/org or
setting, the value found and what was expected. Nothing is exported while one remains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import Any, TypeVar

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import ZERO, round_minor, to_str

PARTS = ("fund", "orgn", "account", "program", "activity", "location")
NO_SOURCE = "(adjustments)"  # the pseudo-source of adjustments entered without one
MAX_PROBLEMS = 20
_T = TypeVar("_T")


class JournalRefused(InvalidInput):
    """The journal cannot be exported as it stands; the message lists every reason."""

    def __init__(self, period: str, problems: Sequence[str]):
        shown = list(problems[:MAX_PROBLEMS])
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
        super().__init__(f"journal of period {period} not exported:\n  " + "\n  ".join(shown))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Rules:
    """The journal settings the postings depend on (``journal:`` in the configuration)."""

    fund_org_regex: str = r"(?P<fund>[^-]+)(?:-(?P<orgn>.+))?"
    account_code_regex: str | None = None
    default_account: str | None = None
    description: str = "{source} {period} {project}"
    credit_description: str = "{source} {period} recovery"
    description_max_length: int = 35
    reference: str = "OCB-{period}-{source}"
    reference_max_length: int = 30
    reversal_prefix: str = "REV "
    adjustment_fund_org: str | None = None
    adjustment_account: str | None = None


@dataclass(frozen=True)
class Recovery:
    """Where a source's charges are credited."""

    source: str
    display_name: str
    fund_org: str | None
    account: str | None


@dataclass(frozen=True)
class Entry:
    """A debit-side amount: one allocation line's part for one account code."""

    currency: str
    source: str  # NO_SOURCE for an adjustment without a source
    pi_email: str | None
    project_id: str | None
    fund_org: str | None
    account_code: str | None  # from the charges' tag; None: none given
    amount: Decimal  # what the fund pays (negative: a credit to it)
    kind: str = "charge"  # charge | adjustment
    service: str | None = None


@dataclass(frozen=True)
class TagCode:
    """An account code found on approved charges (for validation messages)."""

    code: str
    first_charge_id: int
    charges: int
    source: str


@dataclass(frozen=True)
class Posting:
    currency: str
    source: str
    source_name: str
    role: str  # charge (debit side) | recovery (the source's credit)
    fund_org: str
    parts: tuple[str, ...]  # values of PARTS parsed from fund_org ("" where absent)
    account: str
    account_origin: str  # charge | fund_org | source | default
    pi_email: str | None
    project_id: str | None
    description: str
    reference: str
    amount: Decimal  # signed: positive is a debit, negative a credit
    reversal: bool = False

    @property
    def debit(self) -> Decimal:
        return self.amount if self.amount > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return -self.amount if self.amount < 0 else ZERO

    @property
    def key(self) -> tuple[str, str, str, str, str, str, str]:
        """What identifies a posting between two exports (for --delta)."""
        return (
            self.currency,
            self.source,
            self.role,
            self.fund_org,
            self.account,
            self.project_id or "",
            self.pi_email or "",
        )

    def part(self, name: str) -> str:
        return self.parts[PARTS.index(name)]

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "source": self.source,
            "source_name": self.source_name,
            "role": self.role,
            "fund_org": self.fund_org,
            "parts": list(self.parts),
            "account": self.account,
            "account_origin": self.account_origin,
            "pi_email": self.pi_email,
            "project_id": self.project_id,
            "description": self.description,
            "reference": self.reference,
            "amount": to_str(self.amount),
            "debit": to_str(self.debit),
            "credit": to_str(self.credit),
            "reversal": self.reversal,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Posting:
        return cls(
            d["currency"],
            d["source"],
            d["source_name"],
            d["role"],
            d["fund_org"],
            tuple(d["parts"]),
            d["account"],
            d["account_origin"],
            d.get("pi_email"),
            d.get("project_id"),
            d["description"],
            d["reference"],
            Decimal(d["amount"]),
            bool(d.get("reversal")),
        )


# -- small pure helpers ----------------------------------------------------------------------------
def parse_fund_org(fund_org: str, pattern: str) -> dict[str, str] | None:
    """The parts of a fund/org string by the named groups of ``pattern`` (which must
    match the whole string), or None when it does not match."""
    m = re.fullmatch(pattern, fund_org.strip())
    if m is None:
        return None
    return {p: (m.groupdict().get(p) or "") for p in PARTS}


def account_for(
    tag: str | None, fund_org_account: str | None, source_account: str | None, default: str | None
) -> tuple[str | None, str]:
    """(account code, where it came from) for a debit, by the precedence above."""
    for value, origin in (
        (tag, "charge"),
        (fund_org_account, "fund_org"),
        (source_account, "source"),
        (default, "default"),
    ):
        if value is not None and value.strip():
            return value.strip(), origin
    return None, "none"


def account_ok(code: str, pattern: str | None) -> bool:
    return pattern is None or re.fullmatch(pattern, code) is not None


def apportion(
    target: Decimal, weights: Sequence[Decimal], fraction: Decimal = Decimal(1), minor_digits: int = 2
) -> tuple[Decimal, ...]:
    """``target`` (an amount already rounded) divided in proportion to ``weights`` times
    ``fraction``: each part is the difference of the rounded running sums, the last takes
    what is left, so the parts add up to ``target`` exactly whatever the signs."""
    if len(weights) <= 1:
        return (target,) * len(weights)
    parts, running, before = [], ZERO, ZERO
    with localcontext() as c:
        c.prec = 60
        for w in weights[:-1]:
            running += w * fraction
            rounded = round_minor(running, minor_digits)
            parts.append(rounded - before)
            before = rounded
        parts.append(target - before)
    return tuple(parts)


def describe(pattern: str, values: Mapping[str, object], max_length: int) -> str:
    """``pattern`` with ``{placeholders}`` filled (missing values empty), whitespace
    collapsed, cut to ``max_length`` characters."""
    text = pattern.format(**{k: ("" if v is None else str(v)) for k, v in values.items()})
    return " ".join(text.split())[:max_length].rstrip()


def recovery_account(r: Recovery, rules: Rules) -> tuple[str | None, str]:
    """(account, origin) of a source's credit: its gl_account, else the account part of its
    recovery fund/org, else journal.default_account."""
    parsed = parse_fund_org(r.fund_org, rules.fund_org_regex) if r.fund_org else None
    for value, origin in (
        (r.account, "source"),
        ((parsed or {}).get("account"), "fund_org"),
        (rules.default_account, "default"),
    ):
        if value is not None and value.strip():
            return value.strip(), origin
    return None, "none"


def debit_account(e: Entry, r: Recovery, rules: Rules) -> tuple[str | None, str]:
    parsed = parse_fund_org(e.fund_org, rules.fund_org_regex) if e.fund_org else None
    return account_for(e.account_code, (parsed or {}).get("account"), r.account, rules.default_account)


# -- postings --------------------------------------------------------------------------------------
def build_postings(
    period: str,
    entries: Iterable[Entry],
    recoveries: dict[str, Recovery],
    tag_codes: Iterable[TagCode],
    rules: Rules,
) -> tuple[Posting, ...]:
    """The balanced postings of a period; raises :class:`JournalRefused` with every
    problem when there is one."""
    entries = tuple(entries)
    recoveries = {
        **recoveries,
        NO_SOURCE: Recovery(NO_SOURCE, "Adjustments", rules.adjustment_fund_org, rules.adjustment_account),
    }
    from openchargeback.domain.journal_checks import check  # the passes use this module's types

    problems = check(period, entries, recoveries, tag_codes, rules)
    if problems:
        raise JournalRefused(period, problems)
    debits: dict[tuple[str, str, str, str, str, str], _Debit] = {}
    for e in entries:
        if not e.amount:
            continue
        fund = _checked(e.fund_org, "a charged fund/org").strip()
        parsed = _checked(parse_fund_org(fund, rules.fund_org_regex), f"the parts of fund/org {fund!r}")
        found, origin = debit_account(e, recoveries[e.source], rules)
        account = _checked(found, f"the account of fund/org {fund!r}")
        k = (e.currency, e.source, fund, account, e.project_id or "", e.pi_email or "")
        slot = debits.setdefault(k, _Debit(ZERO, origin, e.project_id, e.pi_email, parsed))
        slot.amount += e.amount
    out: list[Posting] = []
    per_source: dict[tuple[str, str], Decimal] = {}
    for (currency, source, fund, account, _, _), d in debits.items():
        amount, project, pi = d.amount, d.project_id, d.pi_email
        per_source[(currency, source)] = per_source.get((currency, source), ZERO) + amount
        if not amount:
            continue
        src = recoveries[source]
        values = {
            "source": source,
            "source_name": src.display_name,
            "period": period,
            "project": project,
            "pi": pi,
            "fund_org": fund,
            "account": account,
            "currency": currency,
        }
        out.append(
            Posting(
                currency,
                source,
                src.display_name,
                "charge",
                fund,
                tuple(d.parts[p] for p in PARTS),
                account,
                d.origin,
                pi,
                project,
                describe(rules.description, values, rules.description_max_length),
                describe(rules.reference, values, rules.reference_max_length),
                amount,
            )
        )
    for (currency, source), amount in per_source.items():
        if not amount:
            continue
        src = recoveries[source]
        fund = _checked(src.fund_org, f"the recovery fund/org of source {source}").strip()
        parsed = _checked(parse_fund_org(fund, rules.fund_org_regex), f"the parts of fund/org {fund!r}")
        found, origin = recovery_account(src, rules)
        account = _checked(found, f"the recovery account of source {source}")
        values = {
            "source": source,
            "source_name": src.display_name,
            "period": period,
            "project": "",
            "pi": "",
            "fund_org": fund,
            "account": account,
            "currency": currency,
        }
        out.append(
            Posting(
                currency,
                source,
                src.display_name,
                "recovery",
                fund,
                tuple(parsed[p] for p in PARTS),
                account,
                origin,
                None,
                None,
                describe(rules.credit_description, values, rules.description_max_length),
                describe(rules.reference, values, rules.reference_max_length),
                -amount,
            )
        )
    out.sort(key=order)
    return tuple(out)


@dataclass
class _Debit:
    """The running sum of one debit posting."""

    amount: Decimal
    origin: str
    project_id: str | None
    pi_email: str | None
    parts: dict[str, str]


def _checked(value: _T | None, what: str) -> _T:
    """A value that :func:`openchargeback.domain.journal_checks.check` has made sure of."""
    if value is None:
        raise AssertionError(f"{what} passed the journal checks but is missing")
    return value


def order(p: Posting) -> tuple[str, str, bool, str, str, str, str, bool]:
    return (
        p.currency,
        p.source,
        p.role != "charge",
        p.fund_org,
        p.account,
        p.project_id or "",
        p.pi_email or "",
        p.reversal is False,
    )


def imbalances(postings: Iterable[Posting]) -> list[tuple[str, str, Decimal]]:
    """(currency, source, debits minus credits) wherever that is not zero."""
    sums: dict[tuple[str, str], Decimal] = {}
    for p in postings:
        sums[(p.currency, p.source)] = sums.get((p.currency, p.source), ZERO) + p.amount
    return [(c, s, v) for (c, s), v in sorted(sums.items()) if v]


def totals(postings: Iterable[Posting]) -> dict[str, dict[str, Decimal]]:
    """currency -> debit, credit and charged (the debits of charge lines net of their credits)."""
    out: dict[str, dict[str, Decimal]] = {}
    for p in postings:
        t = out.setdefault(p.currency, {"debit": ZERO, "credit": ZERO, "charged": ZERO})
        t["debit"] += p.debit
        t["credit"] += p.credit
        if p.role == "charge":
            t["charged"] += p.amount
    return out


def delta(previous: Iterable[Posting], current: Iterable[Posting], rules: Rules) -> tuple[Posting, ...]:
    """What to post to go from ``previous`` (the last posted export) to ``current``: a line
    whose amount changed is reversed and posted again; a new line is posted; a line gone
    is reversed. Balanced per source whenever both sides are."""
    prev = {p.key: p for p in previous}
    cur = {p.key: p for p in current}
    out: list[Posting] = []
    for k in sorted(set(prev) | set(cur)):
        a, b = prev.get(k), cur.get(k)
        if a is not None and b is not None and a.amount == b.amount:
            continue
        if a is not None:
            out.append(reverse(a, rules))
        if b is not None:
            out.append(b)
    return tuple(out)


def reverse(p: Posting, rules: Rules) -> Posting:
    text = " ".join((rules.reversal_prefix + p.description).split())[: rules.description_max_length]
    return replace(p, amount=-p.amount, reversal=True, description=text.rstrip())
