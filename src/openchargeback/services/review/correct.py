"""Correcting the attribution (PI, project, fund) of charges, optionally saved as a rule
that applies at every future import."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypedDict, Unpack

from sqlalchemy import Connection

from openchargeback.domain.charges import tags_dict
from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.periods import Period, PeriodStatus, ensure_writable
from openchargeback.domain.review import ChargeFacts, Evaluator, join_flags
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.services.registry import records as registry_svc
from openchargeback.services.review.patterns import compile_pattern
from openchargeback.services.review.rules import KEPT_FLAGS, current_rules
from openchargeback.services.review.selection import ActionResult, Selection, charge_filter
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import review as repo
from openchargeback.storage import rollups


class Changes(TypedDict, total=False):
    """The keyword arguments of :func:`correct_in`, passed through by :func:`correct`."""

    pi_email: str | None
    project_id: str | None
    fund_org: str | None
    note: str | None
    save_rule: bool
    tag: tuple[str, str] | None


def correct(ctx: Context, period: str, sel: Selection, **changes: Unpack[Changes]) -> ActionResult:
    """Set PI / project / fund of the selected charges (or of every charge of the period
    with ``tag`` key=value); with ``save_rule`` the correction also applies to every
    future import."""
    if not (changes.get("pi_email") or changes.get("project_id") or changes.get("fund_org")):
        raise InvalidInput(
            "a correction needs at least one of --pi, --project, --fund",
            web="a correction needs at least one of PI, project or fund",
        )
    name = Period.parse(period).name
    with ctx.write() as conn:
        return correct_in(conn, ctx, lookup.period(conn, name), sel, **changes)


def correct_in(
    conn: Connection,
    ctx: Context,
    row: Any,
    sel: Selection,
    *,
    pi_email: str | None = None,
    project_id: str | None = None,
    fund_org: str | None = None,
    note: str | None = None,
    save_rule: bool = False,
    tag: tuple[str, str] | None = None,
) -> ActionResult:
    """:func:`correct` of the selected charges of period ``row`` in the caller's transaction."""
    ensure_writable(row.name, PeriodStatus(row.status))
    f = charge_filter(conn, row.id, sel)
    ids = charges_repo.select_ids(conn, f)
    facts = repo.facts(conn, ids)
    if tag is not None:
        key, value = tag[0].strip().lower(), tag[1]
        facts = [
            r
            for r in facts
            if {str(k).strip().lower(): str(v) for k, v in (tags_dict(r.tags) or {}).items()}.get(key)
            == value
        ]
    if not facts:
        raise NotFound(f"no charge of period {row.name} matches")
    evaluator = Evaluator(current_rules(ctx, conn), compile_pattern)
    registry = registry_svc.snapshot(conn)
    now = ctx.clock()
    updates, actions, total = [], [], Decimal(0)
    for r in facts:
        new = {
            "pi_email": pi_email or r.pi_email,
            "project_id": project_id or r.project_id,
            "fund_org": fund_org or r.fund_org,
        }
        codes = evaluator.facts_flags(
            ChargeFacts(
                new["pi_email"],
                new["project_id"],
                new["fund_org"],
                r.service_name,
                r.resource_id,
                r.resource_name,
                r.sku_id,
                r.charge_description,
                tags_dict(r.tags),
            )
        )
        codes += evaluator.amount_flags(r.billed_cost)
        codes += (
            registry.flags(new["project_id"], new["fund_org"], r.charge_period_start.date())
            if registry.active
            else []
        )
        codes += [c for c in (r.flags or "").split(",") if c in (*KEPT_FLAGS, "growth")]
        updates.append({"id": r.id, **new, "flags": join_flags(codes)})
        old = {"pi_email": r.pi_email, "project_id": r.project_id, "fund_org": r.fund_org}
        actions.append(
            {
                "charge_id": r.id,
                "period_id": row.id,
                "action": "correct",
                "before": json.dumps(old),
                "after": json.dumps(new),
                "note": note,
                "actor": ctx.actor,
                "at": now,
            }
        )
        total += r.billed_cost
    repo.update_rows(conn, updates)
    repo.add_actions(conn, actions)
    rule_id = None
    if save_rule:
        if tag is not None:
            field, value = f"tag:{tag[0].strip().lower()}", tag[1]
        elif sel.resource_id:
            field, value = "resource_id", sel.resource_id
        else:
            resources = {r.resource_id for r in facts}
            if len(resources) != 1 or None in resources:
                raise InvalidInput(
                    "--save-rule needs charges of one resource id (or --tag key=value)",
                    web="saving a rule needs charges of one resource id (or a tag)",
                )
            field, value = "resource_id", resources.pop()
        rule_id = repo.add_attribution_rule(
            conn,
            {
                "match_field": field,
                "match_value": value,
                "pi_email": pi_email,
                "project_id": project_id,
                "fund_org": fund_org,
                "note": note,
                "created_by": ctx.actor,
                "created_at": now,
            },
        )
        audit.record_in(
            conn,
            ctx,
            "review.attribution_rule",
            f"{field}={value}",
            json.dumps({"pi_email": pi_email, "project_id": project_id, "fund_org": fund_org}),
        )
    rollups.invalidate(conn, row.id)
    return ActionResult("corrected", row.name, len(facts), total, rule_id)
