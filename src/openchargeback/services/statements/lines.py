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
to the allocation line exactly. Adjustments are allocated as lines of their own.
"""

from __future__ import annotations

from decimal import Decimal

from openchargeback.domain.allocation_lines import build_lines
from openchargeback.domain.money import ZERO, round_minor
from openchargeback.domain.statements import KINDS, minor_digits
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
    conn, period_row, *, pi: str | None = None, project: str | None = None
) -> tuple[list[dict], list[dict], dict]:
    """(service rows, detail rows, names) of the period's statements, optionally only
    one PI's or one project's. Names: {"pis": email -> name, "projects": id -> name}."""
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
        p["list"] += r["due"] if r["kind"] == "credit" else r["list"]
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
    amounts due add up to the allocation line's, which is rounded once for the service as in
    the journal; the cents that rounding each part apart would gain or lose go to the largest
    part. List prices are rounded part by part (a credit's is its amount)."""
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
    exact = {k: merged[k]["due"] * share if share is not None else merged[k]["due"] for k in keys}
    due = {k: round_minor(exact[k], digits) for k in keys}
    rest = ln.charged - sum(due.values(), ZERO)
    if rest:
        largest = max(keys, key=lambda k: (abs(exact[k]), -keys.index(k)))
        due[largest] += rest
    out = []
    for k in keys:
        kind, unit = k
        m = merged[k]
        scaled = m["list"] * share if share is not None else m["list"]
        lst = due[k] if kind == "credit" else round_minor(scaled, digits)
        out.append(
            _row(
                ln,
                kind,
                unit,
                m["quantity"],
                src["display_name"],
                src["cost_basis"],
                "charges",
                lst,
                due[k],
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
