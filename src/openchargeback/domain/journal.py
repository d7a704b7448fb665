"""Journal postings: what accounting posts for a period, balanced to the cent.

Where the money comes from: the allocation of the period's approved charges and
adjustments to funds (:mod:`openchargeback.services.registry.allocation`), whose lines are already
rounded per statement line and divided by fund splits. A line whose charges carry
different account codes is apportioned between them (:func:`apportion`: the parts add
up to the line exactly), so the journal's total is the allocation's total.

Double entry, per source and currency: one debit per charged fund/org, account,
project and PI (what the PI's fund pays); with a funded subsidy
(``journal.sources.NAME.subsidy_fund_org``), one debit of the subsidy fund/org for the
subsidised part (list price minus amount due); one credit to the source's recovery
fund/org and account for the whole (the list price when the subsidy is funded, so that
recovery equals list). A net negative amount goes to the other column. Debits equal
credits per source, hence in total.

Account codes, first found wins:

- debit (the expense or internal-charge object code the PI's fund is charged on): the
  charge's ``account_code`` tag, else the ``account`` group parsed out of the charged
  fund/org, else ``journal.sources.NAME.service_accounts[SERVICE]``, else
  ``journal.sources.NAME.debit_account``, else ``journal.debit_account``, else
  ``journal.default_account``. It must differ from the source's recovery account;
- credit: the source's ``gl_account``, else the ``account`` group of the recovery
  fund/org, else ``journal.default_account``;
- subsidy: ``journal.sources.NAME.subsidy_account``, else the ``account`` group of the
  subsidy fund/org, else ``journal.debit_account``.

Descriptions and references are patterns (``{source} {period} {project}``...), cut at a
word boundary to their maximum length (:func:`describe`); ``{statement}`` is the number
of the statement that shows the debit line (its PI's and project's).

Validation is an ordered list of pure passes (:mod:`openchargeback.domain.journal_checks`);
every problem they find is reported at once, naming the charge, source, fund/org or
setting, the value found and what was expected. Nothing is exported while one remains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import ZERO, to_str

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
    debit_account: str | None = None
    sources: Mapping[str, SourceAccounts] = field(default_factory=dict)
    credit_reference: str | None = None  # of recovery and subsidy lines; None: ``reference``
    subsidy_description: str = "{source} {period} subsidy"

    def of(self, source: str) -> SourceAccounts:
        return self.sources.get(source) or SourceAccounts()


@dataclass(frozen=True)
class FundedSubsidy:
    """Who pays a source's subsidies: debited for list price minus amount due."""

    fund_org: str
    account: str | None = None
    description: str | None = None  # shown on statements ("subsidised by ..."); None: the fund/org


@dataclass(frozen=True)
class SourceAccounts:
    """``journal.sources.NAME``: a source's debit accounts and its funded subsidy."""

    debit_account: str | None = None
    service_accounts: Mapping[str, str] = field(default_factory=dict)
    subsidy: FundedSubsidy | None = None

    def service_account(self, service: str | None) -> str | None:
        if not service:
            return None
        wanted = service.casefold()
        return next((a for s, a in self.service_accounts.items() if s.casefold() == wanted), None)


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
    subsidy: Decimal = ZERO  # list price minus amount due (counted when the source funds it)


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
    role: str  # charge (debit side) | subsidy (the subsidy fund's debit) | recovery (the credit)
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


def first_account(*candidates: tuple[str | None, str]) -> tuple[str | None, str]:
    """(account code, where it came from): the first of (value, origin) given."""
    for value, origin in candidates:
        if value is not None and value.strip():
            return value.strip(), origin
    return None, "none"


def account_ok(code: str, pattern: str | None) -> bool:
    return pattern is None or re.fullmatch(pattern, code) is not None


def describe(pattern: str, values: Mapping[str, object], max_length: int) -> str:
    """``pattern`` with ``{placeholders}`` filled (missing values empty), whitespace
    collapsed, shortened to ``max_length`` characters at a word boundary (never mid-word;
    only a first word longer than the limit is cut)."""
    text = " ".join(pattern.format(**{k: ("" if v is None else str(v)) for k, v in values.items()}).split())
    if len(text) <= max_length:
        return text
    cut = text[: max_length + 1].rsplit(" ", 1)[0] if " " in text[: max_length + 1] else text[:max_length]
    return cut.rstrip(" -_/,;:") or text[:max_length]


def _account_part(fund_org: str | None, rules: Rules) -> str | None:
    parsed = parse_fund_org(fund_org, rules.fund_org_regex) if fund_org else None
    return (parsed or {}).get("account")


def recovery_account(r: Recovery, rules: Rules) -> tuple[str | None, str]:
    """(account, origin) of a source's credit: its gl_account, else the account part of its
    recovery fund/org, else journal.default_account."""
    return first_account(
        (r.account, "source"),
        (_account_part(r.fund_org, rules), "fund_org"),
        (rules.default_account, "default"),
    )


def debit_account(e: Entry, rules: Rules) -> tuple[str | None, str]:
    """(account, origin) of a debit, by the precedence of the module docstring."""
    src = rules.of(e.source)
    return first_account(
        (e.account_code, "charge"),
        (_account_part(e.fund_org, rules), "fund_org"),
        (src.service_account(e.service), "service"),
        (src.debit_account, "source"),
        (rules.debit_account, "journal"),
        (rules.default_account, "default"),
    )


def subsidy_account(s: FundedSubsidy, rules: Rules) -> tuple[str | None, str]:
    return first_account(
        (s.account, "source"),
        (_account_part(s.fund_org, rules), "fund_org"),
        (rules.debit_account, "journal"),
    )


# -- postings --------------------------------------------------------------------------------------
def build_postings(
    period: str,
    entries: Iterable[Entry],
    recoveries: dict[str, Recovery],
    tag_codes: Iterable[TagCode],
    rules: Rules,
    statements: Mapping[tuple[str, str, str], str] | None = None,
) -> tuple[Posting, ...]:
    """The balanced postings of a period; raises :class:`JournalRefused` with every
    problem when there is one. ``statements``: (PI lower-case, project, currency) ->
    the number of the statement showing those charges (the ``{statement}`` placeholder)."""
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
    subsidies: dict[tuple[str, str], Decimal] = {}
    for e in entries:
        funded = rules.of(e.source).subsidy
        if funded is not None and e.subsidy:
            subsidies[(e.currency, e.source)] = subsidies.get((e.currency, e.source), ZERO) + e.subsidy
        if not e.amount:
            continue
        fund = _checked(e.fund_org, "a charged fund/org").strip()
        parsed = _checked(parse_fund_org(fund, rules.fund_org_regex), f"the parts of fund/org {fund!r}")
        found, origin = debit_account(e, rules)
        account = _checked(found, f"the account of fund/org {fund!r}")
        k = (e.currency, e.source, fund, account, e.project_id or "", e.pi_email or "")
        slot = debits.setdefault(k, _Debit(ZERO, origin, e.project_id, e.pi_email, parsed))
        slot.amount += e.amount
    out: list[Posting] = []
    per_source: dict[tuple[str, str], Decimal] = {}
    numbers = statements or {}

    def values(source: str, fund: str, account: str, currency: str, **more: str | None) -> dict[str, object]:
        return {
            "source": source,
            "source_name": recoveries[source].display_name,
            "period": period,
            "project": "",
            "pi": "",
            "statement": "",
            "fund_org": fund,
            "account": account,
            "currency": currency,
            **more,
        }

    def posting(
        role: str,
        fund: str,
        parts: Mapping[str, str],
        account: str,
        origin: str,
        amount: Decimal,
        v: dict[str, object],
        description: str,
        reference: str,
        project: str | None = None,
        pi: str | None = None,
    ) -> Posting:
        currency, source = str(v["currency"]), str(v["source"])
        return Posting(
            currency,
            source,
            recoveries[source].display_name,
            role,
            fund,
            tuple(parts[p] for p in PARTS),
            account,
            origin,
            pi,
            project,
            describe(description, v, rules.description_max_length),
            describe(reference, v, rules.reference_max_length),
            amount,
        )

    credit_reference = rules.credit_reference or rules.reference
    for (currency, source, fund, account, _, _), d in debits.items():
        amount, project, pi = d.amount, d.project_id, d.pi_email
        per_source[(currency, source)] = per_source.get((currency, source), ZERO) + amount
        if not amount:
            continue
        number = numbers.get(((pi or "").lower(), project or "", currency))
        v = values(source, fund, account, currency, project=project, pi=pi, statement=number)
        out.append(
            posting(
                "charge",
                fund,
                d.parts,
                account,
                d.origin,
                amount,
                v,
                rules.description,
                rules.reference,
                project,
                pi,
            )
        )
    for (currency, source), amount in subsidies.items():
        per_source[(currency, source)] = per_source.get((currency, source), ZERO) + amount
        if not amount:
            continue
        funded = _checked(rules.of(source).subsidy, f"the funded subsidy of source {source}")
        fund = funded.fund_org.strip()
        parsed = _checked(parse_fund_org(fund, rules.fund_org_regex), f"the parts of fund/org {fund!r}")
        found, origin = subsidy_account(funded, rules)
        account = _checked(found, f"the subsidy account of source {source}")
        v = values(source, fund, account, currency)
        out.append(
            posting(
                "subsidy",
                fund,
                parsed,
                account,
                origin,
                amount,
                v,
                rules.subsidy_description,
                credit_reference,
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
        v = values(source, fund, account, currency)
        out.append(
            posting(
                "recovery",
                fund,
                parsed,
                account,
                origin,
                -amount,
                v,
                rules.credit_description,
                credit_reference,
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


_ROLE_ORDER = {"charge": 0, "subsidy": 1, "recovery": 2}


def order(p: Posting) -> tuple[str, str, int, str, str, str, str, bool]:
    return (
        p.currency,
        p.source,
        _ROLE_ORDER.get(p.role, 3),
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
    """currency -> debit, credit, charged (the debits of charge lines net of their credits)
    and subsidy (the subsidy funds' debits)."""
    out: dict[str, dict[str, Decimal]] = {}
    for p in postings:
        t = out.setdefault(p.currency, {"debit": ZERO, "credit": ZERO, "charged": ZERO, "subsidy": ZERO})
        t["debit"] += p.debit
        t["credit"] += p.credit
        if p.role in ("charge", "subsidy"):
            t["charged" if p.role == "charge" else "subsidy"] += p.amount
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
    text = describe(rules.reversal_prefix + "{d}", {"d": p.description}, rules.description_max_length)
    return replace(p, amount=-p.amount, reversal=True, description=text)
