"""Where statement lines come from: the allocation of the period's approved charges and
adjustments to funds (:mod:`openchargeback.services.allocation`), so that statements
honour the registry (a charge without a PI or fund takes its project's), fund splits
and adjustments exactly as journals do.

The approved charges are summed in the database at detail grain (PI, project, fund,
source, service, kind of line, unit, resource; :func:`storage.statements.approved_lines`).
Those rows are the statement's detail by resource. Summed per service they are handed
to the allocation's :func:`build_lines`, once per kind of line and unit so that credits
stay lines of their own and quantities keep their unit; the allocation rounds each
service line to the cent and divides it between the funds of the split in force.
Adjustments are allocated as lines of their own.
"""

from __future__ import annotations

from decimal import Decimal

from openchargeback.domain.money import ZERO
from openchargeback.services.adjustments import load_adjustments
from openchargeback.services.allocation import build_lines
from openchargeback.services.splits import load_splits
from openchargeback.storage import registry as registry_repo
from openchargeback.storage import statements as lines_repo


def _attribute(pi: str | None, project: str | None, fund: str | None, projects: dict):
    """As the allocation does: a charge without a PI or fund takes its project's."""
    known = projects.get(project) if project else None
    if known is not None:
        return pi or known[0], fund or known[1]
    return pi, fund


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


def statement_rows(conn, period_row, *, pi: str | None = None,
                   project: str | None = None) -> tuple[list[dict], list[dict], dict]:
    """(service rows, detail rows, names) of the period's statements, optionally only
    one PI's or one project's. Names: {"pis": email -> name, "projects": id -> name}."""
    projects, _ = registry_repo.snapshot(conn)
    pi_projects = [p for p, (owner, _) in projects.items() if pi and owner and _same(owner, pi)]
    detail = lines_repo.approved_lines(conn, period_row.id, pi=pi, project=project, pi_projects=pi_projects)
    for r in detail:
        r["pi_email"], r["fund_org"] = _attribute(r["pi_email"], r["project_id"], r["fund_org"], projects)
    if pi:
        detail = [r for r in detail if _same(r["pi_email"], pi)]
    adjustments = [a for a in load_adjustments(conn, [period_row.id])
                   if (project is None or a.project_id == project)
                   and (pi is None or _same(_attribute(a.pi_email, a.project_id, None, projects)[0], pi))]
    splits = load_splits(conn)
    sources = lines_repo.sources_by_id(conn)
    by_name = {s["name"]: s for s in sources.values()}
    service = _allocate(detail, adjustments, splits, projects, period_row.name, by_name)
    names = {"pis": {r["email"].lower(): r["name"] for r in registry_repo.list_all(conn, "pis") if r["name"]},
             "projects": {r["project_id"]: r["name"] for r in registry_repo.list_all(conn, "projects")
                          if r["name"]}}
    return service, detail, names


def _allocate(detail: list[dict], adjustments: list, splits, projects: dict, period: str,
              sources: dict) -> list[dict]:
    partitions: dict[tuple, dict[tuple, dict]] = {}
    for r in detail:
        key = (r["source"], r["pi_email"], r["project_id"], r["fund_org"], r["service"], r["currency"])
        part = partitions.setdefault((r["kind"], r["unit"]), {})
        g = part.get(key)
        if g is None:
            part[key] = g = {"period": period, "source": r["source"], "cost_basis": "billed",
                             "pi_email": r["pi_email"], "project_id": r["project_id"],
                             "fund_org": r["fund_org"], "service": r["service"], "currency": r["currency"],
                             "rows": 0,
                             "list_cost": ZERO, "billed_cost": ZERO, "effective_cost": ZERO,
                             "quantity": ZERO, "all_quantities": True}
        g["rows"] += r["rows"]
        g["list_cost"] += r["list"]
        g["billed_cost"] += r["due"]  # the amount due by the source's basis: "billed" here
        g["effective_cost"] += r["due"]
        if r["quantity"] is None:
            g["all_quantities"] = False
        else:
            g["quantity"] += r["quantity"]
    out: list[dict] = []
    for (kind, unit), groups in partitions.items():
        lines, _ = build_lines(list(groups.values()), [], splits, projects)
        whole = _quantities(groups.values(), split=False)
        shared = _quantities(groups.values(), split=True)
        for ln in lines:
            k = (ln.source, ln.pi_email, ln.project_id, ln.service, ln.currency)
            q = shared.get(k) if ln.percent is not None else whole.get(k + (ln.fund_org,))
            src = sources.get(ln.source, {"display_name": ln.source, "cost_basis": "billed"})
            out.append(_row(ln, kind, unit, q, src["display_name"], src["cost_basis"], "charges"))
    if adjustments:
        lines, _ = build_lines([], adjustments, splits, projects)
        for ln in lines:
            src = sources.get(ln.source) if ln.source else None
            kind = "credit" if ln.charged < 0 else "adjustment"
            row = _row(ln, kind, None, None, src["display_name"] if src else "Adjustment",
                       src["cost_basis"] if src else None, "adjustment")
            row["service"] = f"Adjustment: {ln.reason}" if ln.reason else "Adjustment"
            out.append(row)
    return out


def _quantities(groups, *, split: bool) -> dict[tuple, Decimal | None]:
    out: dict[tuple, Decimal | None] = {}
    for g in groups:
        k = (g["source"], g["pi_email"], g["project_id"], g["service"], g["currency"])
        if not split:
            k = k + (g["fund_org"],)
        q = g["quantity"] if g["all_quantities"] else None
        if k in out:
            out[k] = None if out[k] is None or q is None else out[k] + q
        else:
            out[k] = q
    return out


def _row(ln, kind: str, unit, quantity, source_name: str, basis: str | None, origin: str) -> dict:
    return {"currency": ln.currency, "pi_email": ln.pi_email, "project_id": ln.project_id,
            "fund_org": ln.fund_org, "source_name": source_name, "cost_basis": basis, "service": ln.service,
            "kind": kind, "unit": unit, "quantity": quantity, "list": ln.list_cost if origin == "charges"
            else ln.charged, "due": ln.charged, "rows": ln.rows, "share": ln.percent, "origin": origin}
