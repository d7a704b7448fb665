"""The registry of PIs, projects and funds/orgs: validation of records given as text
(CLI options, CSV cells, web forms) and the snapshot that ingest checks charges against.

Records are validated whole: an edit is applied to the stored record and the result is
validated again, so that a record can never be left inconsistent (an end date before
its start, a budget basis without a budget).

Ingest rules (see :class:`RegistrySnapshot`), applied only once at least one project is
registered, so that a site without a registry sees no change:

- a charge whose project is registered takes the project's PI when its tags name none,
  and the project's default fund/org when its tags name none;
- ``project_unknown``: the project is not registered;
- ``fund_unknown``: the fund/org is not registered (only once at least one fund is);
- ``fund_expired``: the charge starts outside the fund's validity dates (inclusive).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from typing import Any

from openchargeback.domain.addresses import is_address
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import MoneyError, money, to_str

EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_CODE = re.compile(r"^[^\s,;=]{1,200}$")
PROJECT_STATUSES = ("active", "inactive", "closed")
BUDGET_BASES = ("period", "fiscal_year")
KINDS = ("pis", "projects", "funds")

PROJECT_UNKNOWN = "project_unknown"
FUND_UNKNOWN = "fund_unknown"
FUND_EXPIRED = "fund_expired"


# -- text -> value ------------------------------------------------------------------------------
def _text(limit: int) -> Callable[[str], str]:
    def parse(v: str) -> str:
        if len(v) > limit:
            raise ValueError(f"longer than {limit} characters")
        return v

    return parse


def _email(v: str) -> str:
    # the same rule as every recipient: exactly one address, no name, no control character
    v = v.strip().lower()
    if not EMAIL.match(v) or len(v) > 320 or not is_address(v):
        raise ValueError("not an email address")
    return v


def _emails(v: str) -> tuple[str, ...]:
    out = []
    for part in re.split(r"[;,\s]+", v.strip()):
        if part:
            e = _email(part)
            if e not in out:
                out.append(e)
    return tuple(out)


def _code(v: str) -> str:
    if not _CODE.match(v):
        raise ValueError("expected 1-200 characters without spaces, commas, ';' or '='")
    return v


def parse_date(v: str) -> date:
    try:
        return date.fromisoformat(v.strip())
    except ValueError:
        raise ValueError("not a date in the form YYYY-MM-DD") from None


def _status(v: str) -> str:
    v = v.strip().lower()
    if v not in PROJECT_STATUSES:
        raise ValueError(f"expected one of {', '.join(PROJECT_STATUSES)}")
    return v


def _budget(v: str) -> Decimal:
    try:
        d = money(v.strip())
    except MoneyError:
        raise ValueError("not a number") from None
    if d <= 0:
        raise ValueError("a budget must be more than 0")
    return d


def _basis(v: str) -> str:
    v = v.strip().lower().replace("-", "_")
    if v not in BUDGET_BASES:
        raise ValueError(f"expected one of {', '.join(BUDGET_BASES)} (fiscal-year also accepted)")
    return v


# -- records ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pi:
    email: str
    name: str | None = None
    department: str | None = None
    billing_contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    project_id: str
    pi_email: str
    name: str | None = None
    status: str = "active"
    start_date: date | None = None
    end_date: date | None = None
    default_fund: str | None = None
    budget: Decimal | None = None
    budget_per: str | None = None


@dataclass(frozen=True)
class Fund:
    code: str
    description: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    budget: Decimal | None = None
    budget_per: str | None = None

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to
        )


Record = Pi | Project | Fund
RECORDS: dict[str, type[Record]] = {"pis": Pi, "projects": Project, "funds": Fund}
KEYS = {"pis": "email", "projects": "project_id", "funds": "code"}
PARSERS: dict[str, dict[str, Callable[[str], object]]] = {
    "pis": {"email": _email, "name": _text(300), "department": _text(300), "billing_contacts": _emails},
    "projects": {
        "project_id": _code,
        "pi_email": _email,
        "name": _text(300),
        "status": _status,
        "start_date": parse_date,
        "end_date": parse_date,
        "default_fund": _code,
        "budget": _budget,
        "budget_per": _basis,
    },
    "funds": {
        "code": _code,
        "description": _text(500),
        "valid_from": parse_date,
        "valid_to": parse_date,
        "budget": _budget,
        "budget_per": _basis,
    },
}
NOUN = {"pis": "PI", "projects": "project", "funds": "fund/org"}


def columns(kind: str) -> tuple[str, ...]:
    """The CSV columns (and record fields) of a kind, key first."""
    return tuple(f.name for f in fields(RECORDS[kind]))


def parse_values(kind: str, values: Mapping[str, object], *, partial: bool = False) -> dict[str, Any]:
    """Text values -> typed values. Empty text means "none" (clears on an edit).
    Raises InvalidInput naming every bad field."""
    parsers = PARSERS[kind]
    unknown = sorted(set(values) - set(parsers))
    if unknown:
        raise InvalidInput(
            f"unknown {NOUN[kind]} field(s) {', '.join(unknown)}; expected {', '.join(parsers)}"
        )
    out: dict[str, Any] = {}  # each value of the type its field's parser gives
    problems: list[str] = []
    for name, raw in values.items():
        text = (raw or "").strip() if isinstance(raw, str) or raw is None else raw
        if text == "" or text is None:
            out[name] = () if name == "billing_contacts" else None
            continue
        try:
            out[name] = parsers[name](text) if isinstance(text, str) else text
        except ValueError as exc:
            problems.append(f"{name} {text!r}: {exc}")
    if problems:
        raise InvalidInput("; ".join(problems))
    if not partial:
        key = KEYS[kind]
        if not out.get(key):
            raise InvalidInput(f"{key} is required")
    return out


def build(kind: str, values: Mapping[str, object], base: Record | None = None) -> Record:
    """A validated record from text values, applied over ``base`` when editing."""
    typed = parse_values(kind, values, partial=base is not None)
    if base is not None:
        typed.pop(KEYS[kind], None)  # the key is not edited
        if "budget" in typed and typed["budget"] is None:
            typed.setdefault("budget_per", None)  # no budget, no basis
        record = replace(base, **{k: v for k, v in typed.items()})
    else:
        typed = {k: v for k, v in typed.items() if v is not None or k == "billing_contacts"}
        if kind == "projects" and not typed.get("pi_email"):
            raise InvalidInput("pi_email is required: every project has a PI")
        record = RECORDS[kind](**typed)
    return check(kind, record)


def check(kind: str, r: Record) -> Record:
    """Cross-field rules; returns the record (with a default budget basis)."""
    name = f"{NOUN[kind]} {getattr(r, KEYS[kind])}"
    if kind == "projects" and isinstance(r, Project):
        if r.status is None:
            r = replace(r, status="active")
        if r.pi_email is None:
            raise InvalidInput(f"{name}: pi_email is required: every project has a PI")
        if r.start_date and r.end_date and r.end_date < r.start_date:
            raise InvalidInput(f"{name}: end_date {r.end_date} is before start_date {r.start_date}")
    if kind == "funds" and isinstance(r, Fund) and r.valid_from and r.valid_to and r.valid_to < r.valid_from:
        raise InvalidInput(f"{name}: valid_to {r.valid_to} is before valid_from {r.valid_from}")
    if kind in ("projects", "funds") and isinstance(r, Project | Fund):
        if r.budget is None and r.budget_per is not None:
            raise InvalidInput(f"{name}: budget_per {r.budget_per!r} is given without a budget")
        if r.budget is not None and r.budget_per is None:
            r = replace(r, budget_per="period")
    return r


def as_text(kind: str, r: Record) -> dict[str, str]:
    """A record as CSV cells (the inverse of :func:`build`)."""
    out: dict[str, str] = {}
    for name in columns(kind):
        v = getattr(r, name)
        if v is None:
            out[name] = ""
        elif isinstance(v, tuple):
            out[name] = ";".join(v)
        elif isinstance(v, Decimal):
            out[name] = to_str(v)
        else:
            out[name] = str(v)
    return out


# -- what ingest checks ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RegistrySnapshot:
    """The registry as ingest sees it: project -> (PI, default fund), fund -> validity."""

    projects: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    funds: Mapping[str, tuple[date | None, date | None]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.projects)

    def attribute(
        self, pi: str | None, project: str | None, fund: str | None
    ) -> tuple[str | None, str | None, list[str]]:
        """(PI, fund, date-independent flag codes) for one attribution."""
        if not self.active:
            return pi, fund, []
        codes: list[str] = []
        known = self.projects.get(project) if project else None
        if known is not None:
            pi = pi or known[0]
            fund = fund or known[1]
        elif project:
            codes.append(PROJECT_UNKNOWN)
        if fund and self.funds and fund not in self.funds:
            codes.append(FUND_UNKNOWN)
        return pi, fund, codes

    def flags(self, project: str | None, fund: str | None, day: date | None) -> list[str]:
        """Every registry flag of one charge (for re-checking stored charges, whose PI and
        fund were already filled at import): unknown project or fund, fund invalid on ``day``."""
        _, _, codes = self.attribute(None, project, fund)
        bounds = self.validity(fund)
        if (
            bounds is not None
            and day is not None
            and ((bounds[0] and day < bounds[0]) or (bounds[1] and day > bounds[1]))
        ):
            codes.append(FUND_EXPIRED)
        return codes

    def validity(self, fund: str | None) -> tuple[date | None, date | None] | None:
        """The fund's validity dates when it has any and flags apply, else None."""
        if not self.active or not fund:
            return None
        bounds = self.funds.get(fund)
        if bounds is None or bounds == (None, None):
            return None
        return bounds


__all__ = [
    "BUDGET_BASES",
    "FUND_EXPIRED",
    "FUND_UNKNOWN",
    "KINDS",
    "PROJECT_STATUSES",
    "PROJECT_UNKNOWN",
    "Fund",
    "Pi",
    "Project",
    "RegistrySnapshot",
    "as_text",
    "build",
    "columns",
    "parse_values",
]
