"""Where statement lines come from: the allocation of the period's approved charges and
adjustments to funds (:mod:`openchargeback.services.registry.allocation`), so that statements
honour the registry (a charge without a PI or fund takes its project's), fund splits
and adjustments exactly as journals do, and add up to the journal to the cent.

The approved charges are summed in the database at detail grain (PI, project, fund,
source, service, kind of line, unit, resource; :func:`storage.statements.approved_lines`).
Those rows are the statement's detail by resource. Summed per service they are handed
to the allocation's :func:`build_lines`, which rounds each service line to the cent once
(as for the journal) and divides it between the funds of the split in force. Each
allocation line is then shown as one line per kind (usage, tax, credit...) and unit, so
that credits are lines of their own and quantities keep their units; those parts add up
to the allocation line exactly (the leftover policy of :mod:`openchargeback.domain.money`,
for the amount due and the list price alike, so that the statement's list price is the
allocation's and the journals'). Adjustments are allocated as lines of their own.

With a funded subsidy (``journal.sources.NAME.subsidy_fund_org``, passed as ``funded``),
each line of that source carries ``subsidy_fund_org`` and ``subsidy_description``: who
pays the difference between list price and amount due.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from openchargeback.domain.allocation_lines import build_lines
from openchargeback.domain.journal import FundedSubsidy
from openchargeback.domain.money import ZERO, distribute, minor_digits
from openchargeback.domain.statements import KINDS
from openchargeback.services.registry.adjustments import load_adjustments
from openchargeback.services.registry.splits import load_splits
from openchargeback.storage import allocation as lines_repo
from openchargeback.storage import registry as registry_repo

HUNDRED = Decimal(100)


def _attribute(pi: str | None, project: str | None, fund: str | None, projects: dict):
    """As the allocation does: a charge without a PI or fund takes its project's."""
    known = projects.get(project) if project else None
    if known is not None:
        return pi or known[0], fund or known[1]
    return pi, fund


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


def statement_rows(
    conn,
    period_row,
    *,
    pi: str | None = None,
    project: str | None = None,
    funded: Mapping[str, FundedSubsidy] | None = None,
) -> tuple[list[dict], list[dict], dict]:
    """(service rows, detail rows, names) of the period's statements, optionally only
    one PI's or one project's. Names: {"pis": email -> name, "projects": id -> name}.
    ``funded``: source -> its funded subsidy (``journal.funded_subsidies(settings)``)."""
    projects, _ = registry_repo.snapshot(conn)
    pi_projects = [p for p, (owner, _) in projects.items() if pi and owner and _same(owner, pi)]
    detail = lines_repo.approved_lines(conn, period_row.id, pi=pi, project=project, pi_projects=pi_projects)
    for r in detail:
        r["pi_email"], r["fund_org"] = _attribute(r["pi_email"], r["project_id"], r["fund_org"], projects)
    if pi:
        detail = [r for r in detail if _same(r["pi_email"], pi)]
    adjustments = [
        a
        for a in load_adjustments(conn, [period_row.id])
        if (project is None or a.project_id == project)
        and (pi is None or _same(_attribute(a.pi_email, a.project_id, None, projects)[0], pi))
    ]
    splits = load_splits(conn)
    sources = lines_repo.sources_by_id(conn)
    by_name = {s["name"]: s for s in sources.values()}
    service = _allocate(detail, adjustments, splits, projects, period_row.name, by_name)
    for row in service:
        f = (funded or {}).get(row["source"] or "") if row["origin"] == "charges" else None
        row["subsidy_fund_org"] = f.fund_org if f else None
        row["subsidy_description"] = f.description if f else None
    names = {
        "pis": {r["email"].lower(): r["name"] for r in registry_repo.list_all(conn, "pis") if r["name"]},
        "projects": {
            r["project_id"]: r["name"] for r in registry_repo.list_all(conn, "projects") if r["name"]
        },
    }
    return service, detail, names


def _allocate(
    detail: list[dict], adjustments: list, splits, projects: dict, period: str, sources: dict
) -> list[dict]:
    groups: dict[tuple, dict] = {}  # allocation grain -> exact sums
    parts: dict[tuple, dict[tuple, dict]] = {}  # allocation grain -> (kind, unit) -> exact sums
    for r in detail:
        key = (r["source"], r["pi_email"], r["project_id"], r["fund_org"], r["service"], r["currency"])
        g = groups.get(key)
        if g is None:
            groups[key] = g = {
                "period": period,
                "source": r["source"],
                "cost_basis": "billed",
                "pi_email": r["pi_email"],
                "project_id": r["project_id"],
                "fund_org": r["fund_org"],
                "service": r["service"],
                "currency": r["currency"],
                "rows": 0,
                "list_cost": ZERO,
                "billed_cost": ZERO,
                "effective_cost": ZERO,
            }
        g["rows"] += r["rows"]
        g["list_cost"] += r["list"]
        g["billed_cost"] += r["due"]  # the amount due by the source's basis ("billed" for the allocation)
        g["effective_cost"] += r["due"]
        p = parts.setdefault(key, {}).setdefault(
            (r["kind"], r["unit"]), {"due": ZERO, "list": ZERO, "rows": 0, "quantity": ZERO}
        )
        p["due"] += r["due"]
        p["list"] += r["list"]  # a credit's list price is its amount (storage.allocation)
        p["rows"] += r["rows"]
        p["quantity"] = _add(p["quantity"], r["quantity"])
    out: list[dict] = []
    lines, _ = build_lines(list(groups.values()), [], splits, projects)
    for ln in lines:
        src = sources.get(ln.source, {"display_name": ln.source, "cost_basis": "billed"})
        base = (ln.source, ln.pi_email, ln.project_id)
        if ln.percent is None:  # the line of one group
            contributing = [parts[base + (ln.fund_org, ln.service, ln.currency)]]
        else:  # a split line: every group of the project's service, divided by the share
            contributing = [
                v for k, v in parts.items() if k[:3] == base and k[4:] == (ln.service, ln.currency)
            ]
        out += _kind_rows(ln, contributing, src, minor_digits(ln.currency))
    if adjustments:
        lines, _ = build_lines([], adjustments, splits, projects)
        for ln in lines:
            src = sources.get(ln.source) if ln.source else None
            kind = "credit" if ln.charged < 0 else "adjustment"
            row = _row(
                ln,
                kind,
                None,
                None,
                src["display_name"] if src else None,
                src["cost_basis"] if src else None,
                "adjustment",
                ln.charged,
                ln.charged,
                ln.rows,
            )
            row["service"] = f"Adjustment — {ln.reason}" if ln.reason else "Adjustment"
            out.append(row)
    return out


def _kind_rows(ln, contributing: list[dict], src: dict, digits: int) -> list[dict]:
    """One row per kind of line (usage, tax, credit...) and unit of an allocation line. Their
    amounts due and list prices add up to the allocation line's, which is rounded once for
    the service as in the journal, divided by the leftover policy (:func:`distribute`)."""
    share = (ln.percent / HUNDRED) if ln.percent is not None else None
    merged: dict[tuple, dict] = {}
    for c in contributing:
        for k, v in c.items():
            m = merged.setdefault(k, {"due": ZERO, "list": ZERO, "rows": 0, "quantity": ZERO})
            m["due"] += v["due"]
            m["list"] += v["list"]
            m["rows"] += v["rows"]
            m["quantity"] = _add(m["quantity"], v["quantity"])
    keys = sorted(merged, key=lambda k: (KINDS.index(k[0]) if k[0] in KINDS else 9, k[1] or ""))

    def scaled(amount: Decimal) -> Decimal:
        return amount * share if share is not None else amount

    due = distribute(ln.charged, [scaled(merged[k]["due"]) for k in keys], digits)
    # a credit's list price is its amount due; the other kinds share the rest of the list
    credits = sum((d for k, d in zip(keys, due, strict=True) if k[0] == "credit"), ZERO)
    others = [k for k in keys if k[0] != "credit"]
    shared = dict(
        zip(
            others,
            distribute(ln.list_cost - credits, [scaled(merged[k]["list"]) for k in others], digits),
            strict=True,
        )
    )
    lists = [d if k[0] == "credit" else shared[k] for k, d in zip(keys, due, strict=True)]
    out = []
    for k, due_k, list_k in zip(keys, due, lists, strict=True):
        kind, unit = k
        m = merged[k]
        out.append(
            _row(
                ln,
                kind,
                unit,
                m["quantity"],
                src["display_name"],
                src["cost_basis"],
                "charges",
                list_k,
                due_k,
                m["rows"],
            )
        )
    return out


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


def _row(
    ln,
    kind: str,
    unit,
    quantity,
    source_name: str | None,
    basis: str | None,
    origin: str,
    list_price: Decimal,
    due: Decimal,
    rows: int,
) -> dict:
    return {
        "currency": ln.currency,
        "source": ln.source,
        "pi_email": ln.pi_email,
        "project_id": ln.project_id,
        "fund_org": ln.fund_org,
        "source_name": source_name,
        "cost_basis": basis,
        "service": ln.service,
        "kind": kind,
        "unit": unit,
        "quantity": quantity,
        "list": list_price,
        "due": due,
        "rows": rows,
        "share": ln.percent,
        "origin": origin,
    }
