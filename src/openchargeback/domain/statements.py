"""Statements as data: from grouped charge lines to the content of each document.

Rounding policy: :mod:`openchargeback.domain.money` (half-up to the currency's minor
unit, :func:`~openchargeback.domain.money.minor_digits`). A statement's *lines* are its
service lines, one per (fund, source, service, kind of line, unit, share). Their amounts
due and list prices arrive rounded (by the allocation, once per service, as journals
round them; see :mod:`openchargeback.services.statements.lines`), and rounding them again
here to the statement's currency changes nothing; a line's discount or subsidy is the
difference of the two rounded amounts; every total on the document is the sum of rounded
lines, so every document adds up. A
PI's summary adds the rounded lines of the PI's project statements, so it adds up to them.

Detail lines (service and resource) are rounded one by one. When more lines exist than
the configured limit, the largest are shown and the rest are summed in one "N more
lines totalling X" line (a sum of their rounded amounts, as in the CSV attachment);
any difference between the rounded detail and the service lines shows as a rounding
line, so the detail also adds up to the total.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from openchargeback.domain.money import ZERO, minor_digits, round_minor

KINDS = ("usage", "purchase", "tax", "adjustment", "credit")  # order of lines on a statement
KIND_LABELS = {
    "usage": "",
    "purchase": "purchase",
    "tax": "tax",
    "adjustment": "adjustment",
    "credit": "credit",
}
HUNDRED = Decimal(100)

# A statement line, a query row or a document's content: JSON-ready mappings whose
# values are of several types (text, decimals, dates, nested lists), keyed by name.
Doc = dict[str, Any]


@dataclass(frozen=True, order=True)
class StatementKey:
    """What one statement covers. ``project_id`` is None on a PI's summary (kind "pi")."""

    kind: str  # project | pi
    pi_email: str | None
    project_id: str | None
    currency: str

    @property
    def sort_key(self) -> tuple[str, bool, str, str]:
        return ((self.pi_email or "~").lower(), self.kind != "pi", self.project_id or "", self.currency)


@dataclass
class Draft:
    """A statement before it is numbered: its content (JSON-ready), totals and detail."""

    key: StatementKey
    data: Doc
    list_total: Decimal
    discount_total: Decimal
    due_total: Decimal
    charge_count: int
    line_count: int
    detail_rows: list[list[Any]] | None = None  # every detail line, when the document shows part
    projects: list[StatementKey] = field(default_factory=list)  # a summary's project statements


def _amount(d: Decimal) -> str:
    return format(d, "f")


def _quantity(d: Decimal | None) -> str | None:
    if d is None:
        return None
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _percent(discount: Decimal, list_price: Decimal) -> str | None:
    if list_price <= 0 or discount == 0:
        return None
    return format(round_minor(discount * HUNDRED / list_price, 1), "f")


def _add_quantity(a: Decimal | None, b: Decimal | None, first: bool) -> Decimal | None:
    if first:
        return b
    return None if a is None or b is None else a + b


def _line(
    fund: str | None,
    source_name: str | None,
    basis: str | None,
    service: str | None,
    kind: str,
    unit: str | None,
    quantity: Decimal | None,
    list_r: Decimal,
    due_r: Decimal,
    rows: int,
    share: Decimal | None = None,
    origin: str = "charges",
    subsidy: tuple[str | None, str | None] = (None, None),
) -> Doc:
    discount = list_r - due_r
    plain = kind != "credit" and origin == "charges"
    # who pays the subsidy of the line (a funded subsidy); absent otherwise, so that the
    # content (and hash) of a statement without one is what it was
    funded = {"subsidy_fund_org": subsidy[0], "subsidy_description": subsidy[1]} if subsidy[0] else {}
    return {
        **funded,
        "fund": fund,
        "source": source_name,
        "cost_basis": basis,
        "service": service or "(no service)",
        "kind": kind,
        "kind_label": KIND_LABELS.get(kind, kind),
        "credit": kind == "credit",
        "origin": origin,
        "share_percent": _quantity(share),
        "quantity": _quantity(quantity) if plain else None,
        "unit": unit if plain else None,
        "list": _amount(list_r),
        "discount": _amount(discount),
        "discount_percent": _percent(discount, list_r),
        "due": _amount(due_r),
        "fully_subsidised": list_r > 0 and due_r == 0,
        "charges": rows,
    }


def _line_order(line: Doc) -> tuple[str, bool, str, str, int, str]:
    return (
        line["fund"] or "",
        line["origin"] != "charges",
        line["source"] or "",
        line["service"],
        KINDS.index(line["kind"]) if line["kind"] in KINDS else 9,
        line["unit"] or "",
    )


def _fund_blocks(lines: list[Doc]) -> list[Doc]:
    blocks: dict[str | None, list[Doc]] = {}
    for ln in lines:
        blocks.setdefault(ln["fund"], []).append(ln)
    out = []
    for fund in sorted(blocks, key=lambda f: (f is None, f or "")):
        ls = blocks[fund]
        out.append({"fund": fund, "lines": ls, **_sums(ls)})
    return out


def _sums(rows: Iterable[Doc]) -> Doc:
    lines = list(rows)
    due = sum((Decimal(x["due"]) for x in lines), ZERO)
    lst = sum((Decimal(x["list"]) for x in lines), ZERO)
    return {
        "list": _amount(lst),
        "discount": _amount(lst - due),
        "due": _amount(due),
        "discount_percent": _percent(lst - due, lst),
    }


def _cost_basis(lines: list[Doc]) -> list[Doc]:
    seen = {(x["source"], x["cost_basis"]) for x in lines if x["cost_basis"]}
    return [{"source": s, "basis": b} for s, b in sorted(seen)]


def _key_of(r: Doc) -> StatementKey:
    return StatementKey("project", r["pi_email"], r["project_id"], r["currency"])


def project_drafts(service_rows: list[Doc], detail_rows: list[Doc], detail_limit: int) -> list[Draft]:
    """One draft per (PI, project, currency). ``service_rows`` are the statement lines (see
    :mod:`openchargeback.services.statements.lines`): exact or already rounded amounts per
    (fund, source, service, kind, unit, share); ``detail_rows`` the same charges at
    resource grain."""
    groups: dict[StatementKey, list[Doc]] = {}
    for r in service_rows:
        groups.setdefault(_key_of(r), []).append(r)
    details: dict[StatementKey, list[Doc]] = {}
    for r in detail_rows:
        details.setdefault(_key_of(r), []).append(r)
    return [
        _project_draft(k, groups[k], details.get(k, []), detail_limit)
        for k in sorted(groups, key=lambda k: k.sort_key)
    ]


def _project_draft(key: StatementKey, rows: list[Doc], detail_rows: list[Doc], detail_limit: int) -> Draft:
    digits = minor_digits(key.currency)
    lines = []
    for r in rows:
        due_r = round_minor(r["due"], digits)
        list_r = (
            due_r
            if r["kind"] == "credit" or r.get("origin", "charges") != "charges"
            else round_minor(r["list"], digits)
        )
        lines.append(
            _line(
                r["fund_org"],
                r["source_name"],
                r["cost_basis"],
                r["service"],
                r["kind"],
                r["unit"],
                r["quantity"],
                list_r,
                due_r,
                r["rows"],
                r.get("share"),
                r.get("origin", "charges"),
                (r.get("subsidy_fund_org"), r.get("subsidy_description")),
            )
        )
    lines.sort(key=_line_order)
    totals = _sums(lines)
    charges_due = sum((Decimal(x["due"]) for x in lines if x["origin"] == "charges"), ZERO)
    detail, csv_rows = _detail(detail_rows, charges_due, digits, detail_limit)
    data = {
        "kind": "project",
        "pi_email": key.pi_email,
        "project_id": key.project_id,
        "currency": key.currency,
        "funds": sorted({ln["fund"] for ln in lines if ln["fund"]}),
        "cost_basis": _cost_basis(lines),
        "lines": lines,
        "fund_blocks": _fund_blocks(lines),
        "totals": totals,
        "detail": detail,
        "projects": [],
        "credit_total": _amount(sum((Decimal(x["due"]) for x in lines if x["credit"]), ZERO)),
    }
    return Draft(
        key,
        data,
        Decimal(totals["list"]),
        Decimal(totals["discount"]),
        Decimal(totals["due"]),
        sum(r["rows"] for r in detail_rows),
        len(detail_rows),
        csv_rows,
    )


def _detail(
    rows: list[Doc], total_due: Decimal, digits: int, limit: int
) -> tuple[Doc, list[list[Any]] | None]:
    """The detail by resource; ``total_due`` is the statement's total of charges (its lines
    other than adjustments), which the detail adds up to."""
    items = []
    for r in rows:
        due_r = round_minor(r["due"], digits)
        list_r = due_r if r["kind"] == "credit" else round_minor(r["list"], digits)
        items.append((r, list_r, due_r))
    items.sort(
        key=lambda t: (
            -abs(t[2]),
            t[0]["service"] or "",
            t[0]["resource_id"] or "",
            t[0]["fund_org"] or "",
            t[0]["kind"],
            t[0]["unit"] or "",
        )
    )
    shown, hidden = items[:limit], items[limit:]
    shown.sort(key=lambda t: (t[0]["service"] or "", -abs(t[2]), t[0]["resource_id"] or ""))
    lines = [
        {
            "service": r["service"] or "(no service)",
            "resource_id": r["resource_id"],
            "resource": r["resource_name"] or r["resource_id"] or "(no resource)",
            "fund": r["fund_org"],
            "kind": r["kind"],
            "credit": r["kind"] == "credit",
            "quantity": _quantity(r["quantity"]) if r["kind"] != "credit" else None,
            "unit": r["unit"] if r["kind"] != "credit" else None,
            "start": r["first_start"].isoformat() if r["first_start"] else None,
            "end": r["last_end"].isoformat() if r["last_end"] else None,
            "list": _amount(list_r),
            "due": _amount(due_r),
            "charges": r["rows"],
        }
        for r, list_r, due_r in shown
    ]
    shown_sum = sum((t[2] for t in shown), ZERO)
    hidden_sum = sum((t[2] for t in hidden), ZERO)
    rounding = total_due - shown_sum - hidden_sum
    detail = {
        "lines": lines,
        "line_count": len(items),
        "hidden_count": len(hidden),
        "hidden_total": _amount(hidden_sum),
        "rounding": _amount(rounding),
        "limit": limit,
        "total": _amount(total_due),
    }
    if not hidden:
        return detail, None
    csv_rows = [
        [
            r["fund_org"],
            r["source_name"],
            r["service"],
            r["kind"],
            r["resource_id"],
            r["resource_name"],
            r["first_start"].isoformat() if r["first_start"] else "",
            r["last_end"].isoformat() if r["last_end"] else "",
            _quantity(r["quantity"]) or "",
            r["unit"] or "",
            _amount(list_r),
            _amount(list_r - due_r),
            _amount(due_r),
            r["rows"],
        ]
        for r, list_r, due_r in items
    ]
    return detail, csv_rows


DETAIL_CSV_HEADER = [
    "fund_org",
    "source",
    "service",
    "kind",
    "resource_id",
    "resource_name",
    "charge_period_start",
    "charge_period_end",
    "quantity",
    "unit",
    "list_price",
    "discount_or_subsidy",
    "amount_due",
    "charges",
]


def pi_summaries(drafts: list[Draft]) -> list[Draft]:
    """One summary per (PI, currency) over that PI's project statements: the sum of their
    rounded lines, line by line."""
    by_pi: dict[tuple[str | None, str], list[Draft]] = {}
    for d in drafts:
        by_pi.setdefault((d.key.pi_email, d.key.currency), []).append(d)
    out = []
    for (pi, currency), items in sorted(by_pi.items(), key=lambda kv: ((kv[0][0] or "~").lower(), kv[0][1])):
        merged: dict[tuple[Any, ...], Doc] = {}
        for d in items:
            for ln in d.data["lines"]:
                k = (
                    ln["fund"],
                    ln["source"],
                    ln["cost_basis"],
                    ln["service"],
                    ln["kind"],
                    ln["unit"],
                    ln["share_percent"],
                    ln["origin"],
                    ln.get("subsidy_fund_org"),
                    ln.get("subsidy_description"),
                )
                q = Decimal(ln["quantity"]) if ln["quantity"] is not None else None
                acc = merged.get(k)
                if acc is None:
                    merged[k] = {
                        "list": Decimal(ln["list"]),
                        "due": Decimal(ln["due"]),
                        "quantity": q,
                        "rows": ln["charges"],
                    }
                else:
                    acc["list"] += Decimal(ln["list"])
                    acc["due"] += Decimal(ln["due"])
                    acc["quantity"] = _add_quantity(acc["quantity"], q, False)
                    acc["rows"] += ln["charges"]
        lines = sorted(
            (
                _line(
                    f,
                    s,
                    b,
                    sv,
                    kd,
                    u,
                    a["quantity"],
                    a["list"],
                    a["due"],
                    a["rows"],
                    Decimal(sh) if sh else None,
                    og,
                    (sf, sd),
                )
                for (f, s, b, sv, kd, u, sh, og, sf, sd), a in merged.items()
            ),
            key=_line_order,
        )
        totals = _sums(lines)
        projects = [
            {
                "project_id": d.key.project_id,
                "number": None,
                **{k: d.data["totals"][k] for k in ("list", "discount", "due", "discount_percent")},
            }
            for d in items
        ]
        data = {
            "kind": "pi",
            "pi_email": pi,
            "project_id": None,
            "currency": currency,
            "funds": sorted({ln["fund"] for ln in lines if ln["fund"]}),
            "cost_basis": _cost_basis(lines),
            "lines": lines,
            "fund_blocks": _fund_blocks(lines),
            "totals": totals,
            "detail": {
                "lines": [],
                "line_count": 0,
                "hidden_count": 0,
                "hidden_total": "0.00",
                "rounding": "0.00",
                "limit": 0,
                "total": "0.00",
            },
            "projects": projects,
            "credit_total": _amount(sum((Decimal(x["due"]) for x in lines if x["credit"]), ZERO)),
        }
        out.append(
            Draft(
                StatementKey("pi", pi, None, currency),
                data,
                Decimal(totals["list"]),
                Decimal(totals["discount"]),
                Decimal(totals["due"]),
                sum(d.charge_count for d in items),
                len(lines),
                None,
                [d.key for d in items],
            )
        )
    return out


def content_hash(data: Doc, *extra: str) -> str:
    """SHA-256 of a statement's content and of what it is rendered with (templates,
    branding): equal hashes mean an identical document."""
    h = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode())
    for e in extra:
        h.update(b"\0" + e.encode())
    return h.hexdigest()


def statement_number(prefix: str, period: str, sequence: int) -> str:
    """``ST-202501-0007``: prefix, period without the dash, running number in the period."""
    return f"{prefix}-{period.replace('-', '')}-{sequence:04d}"
