"""What journal files are made of, read inside the caller's transaction.

Postings (``gl`` and templates) come from the allocation of the period's approved charges
and adjustments to funds (:mod:`openchargeback.services.registry.allocation`). The approved
charges are summed per allocation line *and account code* (the allocation's own query,
:func:`storage.allocation.charge_lines` with ``by_account``); each line (without the
account) goes through the allocation's own :func:`build_lines` -- so it is rounded and
divided by the fund split exactly as the allocation does -- and each resulting part is
divided between the line's account codes by the one leftover policy
(:func:`domain.money.proportional`). The journal's total is therefore the allocation's
total to the minor unit, which :func:`check_total` verifies on every export; so are the
funded subsidies (list price minus amount due, per allocation line).

``summary`` rows are the allocation's lines added up per PI, project and fund/org;
``standard`` rows are the approved charges themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from openchargeback.domain import journal as dom
from openchargeback.domain.allocation_lines import Allocation, build_lines
from openchargeback.domain.errors import Conflict
from openchargeback.domain.money import ZERO, minor_digits, proportional, to_str
from openchargeback.services.registry.adjustments import load_adjustments
from openchargeback.storage import allocation as alloc_repo
from openchargeback.storage import journal as repo
from openchargeback.storage import statements as statements_repo

HUNDRED = Decimal(100)
_AMOUNTS = ("list_cost", "billed_cost", "effective_cost")


def funded_subsidies(settings) -> dict[str, dom.FundedSubsidy]:
    """source -> who pays its subsidies (``journal.sources.NAME.subsidy_fund_org``)."""
    return {
        name.lower(): dom.FundedSubsidy(s.subsidy_fund_org, s.subsidy_account, s.subsidy_description)
        for name, s in settings.journal.sources.items()
        if s.subsidy_fund_org
    }


def rules_of(settings) -> dom.Rules:
    j = settings.journal
    funded = funded_subsidies(settings)
    return dom.Rules(
        j.fund_org_regex,
        j.account_code_regex,
        j.default_account,
        j.description,
        j.credit_description,
        j.description_max_length,
        j.reference,
        j.reference_max_length,
        j.reversal_prefix,
        j.adjustment_fund_org,
        j.adjustment_account,
        j.debit_account,
        {
            name.lower(): dom.SourceAccounts(
                s.debit_account, dict(s.service_accounts), funded.get(name.lower())
            )
            for name, s in j.sources.items()
        },
        j.credit_reference,
        j.subsidy_description,
    )


def recoveries(conn) -> dict[str, dom.Recovery]:
    return {
        r.name: dom.Recovery(r.name, r.display_name, r.gl_fund_org, r.gl_account)
        for r in repo.recoveries(conn)
    }


def tag_codes(conn, period_id: int) -> tuple[dom.TagCode, ...]:
    return tuple(
        dom.TagCode(r.code.strip(), r.first_id, r.n, r.source)
        for r in repo.account_codes(conn, period_id)
        if r.code.strip()
    )


def entries(conn, period_row, projects: dict, splits) -> tuple[dom.Entry, ...]:
    """The debit-side entries of a period: allocation lines by account code."""
    groups = alloc_repo.charge_lines(conn, [period_row.id], by_account=True)
    return entries_from(groups, load_adjustments(conn, [period_row.id]), period_row.name, projects, splits)


def entries_from(rows, adjustments, period: str, projects: dict, splits) -> tuple[dom.Entry, ...]:
    """:func:`entries` from plain data: charge groups by account code (dicts as
    :func:`storage.allocation.charge_lines` gives with ``by_account``), adjustment rows,
    project -> (PI, default fund) and splits."""
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = (
            r["source"],
            r["cost_basis"],
            r["pi_email"],
            r["project_id"],
            r["fund_org"],
            r["service"],
            r["currency"],
        )
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                "period": period,
                "source": r["source"],
                "cost_basis": r["cost_basis"],
                "pi_email": r["pi_email"],
                "project_id": r["project_id"],
                "fund_org": r["fund_org"],
                "service": r["service"],
                "currency": r["currency"],
                "rows": 0,
                **dict.fromkeys(_AMOUNTS, ZERO),
                "accounts": {},
            }
        g["rows"] += r["rows"]
        for a in _AMOUNTS:
            g[a] += r[a]
        basis = "effective_cost" if r["cost_basis"] == "effective" else "billed_cost"
        code = (r["account_code"] or "").strip() or None
        g["accounts"][code] = g["accounts"].get(code, ZERO) + r[basis]
    out: list[dom.Entry] = []
    for g in groups.values():
        codes = sorted(g["accounts"], key=lambda c: c or "")
        weights = [g["accounts"][c] for c in codes]
        lines, _ = build_lines([g], [], splits, projects)
        for ln in lines:
            parts = proportional(ln.charged, weights, minor_digits(ln.currency), [c or "" for c in codes])
            # the line's subsidy (list minus due) rides on its first part: it is posted per source
            subsidy = ln.list_cost - ln.charged
            for i, (code, part) in enumerate(zip(codes, parts, strict=True)):
                out.append(
                    dom.Entry(
                        ln.currency,
                        g["source"],  # the group's lines are its charges: they all have its source
                        ln.pi_email,
                        ln.project_id,
                        ln.fund_org,
                        code,
                        part,
                        "charge",
                        ln.service,
                        subsidy if i == 0 else ZERO,
                    )
                )
    if adjustments:
        lines, _ = build_lines([], adjustments, splits, projects)
        for ln in lines:
            out.append(
                dom.Entry(
                    ln.currency,
                    ln.source or dom.NO_SOURCE,
                    ln.pi_email,
                    ln.project_id,
                    ln.fund_org,
                    None,
                    ln.charged,
                    "adjustment",
                    None,
                )
            )
    return tuple(out)


def statement_numbers(conn, period_id: int) -> dict[tuple[str, str, str], str]:
    """(PI lower-case, project, currency) -> the number of its current project statement."""
    return {
        ((r.pi_email or "").lower(), r.project_id or "", r.currency): r.number
        for r in statements_repo.current(conn, period_id)
        if r.kind == "project"
    }


def subsidy_totals(allocation: Allocation, rules: dom.Rules) -> dict[str, Decimal]:
    """currency -> list price minus amount due of the sources whose subsidies are funded."""
    out: dict[str, Decimal] = {}
    for ln in allocation.lines:
        if ln.kind == "charge" and ln.source and rules.of(ln.source).subsidy is not None:
            out[ln.currency] = out.get(ln.currency, ZERO) + ln.list_cost - ln.charged
    return out


def allocation_totals(allocation: Allocation) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for ln in allocation.lines:
        out[ln.currency] = out.get(ln.currency, ZERO) + ln.charged
    return out


def check_total(period: str, postings, allocation: Allocation, rules: dom.Rules) -> None:
    """The journal balances per source, its charges add up to the allocation (and so to
    the statements) in every currency, and so do its funded subsidies (list price minus
    amount due); anything else is a bug, refused loudly."""
    wrong = dom.imbalances(postings)
    if wrong:
        c, s, v = wrong[0]
        raise Conflict(
            f"journal of period {period} does not balance: source {s} ({c}) is off by "
            f"{to_str(v)}; nothing was exported (please report this)"
        )
    got = {c: t["charged"] for c, t in dom.totals(postings).items()}
    want = {c: v for c, v in allocation_totals(allocation).items() if v}
    got = {c: v for c, v in got.items() if v}
    if got != want:
        raise Conflict(
            f"journal of period {period} charges {got} but the allocation totals {want}; "
            f"nothing was exported (please report this)"
        )
    got = {c: t["subsidy"] for c, t in dom.totals(postings).items() if t["subsidy"]}
    want = {c: v for c, v in subsidy_totals(allocation, rules).items() if v}
    if got != want:
        raise Conflict(
            f"journal of period {period} debits subsidies of {got} but the allocation's funded "
            f"subsidies total {want}; nothing was exported (please report this)"
        )


def summary_rows(period: str, allocation: Allocation) -> list[dict]:
    """One row per PI, project, fund/org and currency: the allocation's lines added up."""
    rows: dict[tuple, dict] = {}
    for ln in allocation.lines:
        k = (ln.currency, ln.pi_email or "", ln.project_id or "", ln.fund_org or "")
        r = rows.get(k)
        if r is None:
            r = rows[k] = {
                "period": period,
                "pi_email": ln.pi_email,
                "project_id": ln.project_id,
                "fund_org": ln.fund_org,
                "currency": ln.currency,
                "list_cost": ZERO,
                "billed_cost": ZERO,
                "charged": ZERO,
                "charges": 0,
            }
        r["list_cost"] += ln.list_cost  # the statements' list price (storage.allocation's rule)
        r["billed_cost"] += ln.billed_cost
        r["charged"] += ln.charged
        r["charges"] += ln.rows
    return [rows[k] for k in sorted(rows)]


def standard_rows(conn, period_row, projects: dict) -> Iterator[dict]:
    """The approved charges one by one; a charge without a PI or fund/org shows its
    project's (as statements and the allocation do)."""
    for r in repo.approved_charges(conn, period_row.id):
        known = projects.get(r.project_id) if r.project_id else None
        pi, fund = (r.pi_email or known[0], r.fund_org or known[1]) if known else (r.pi_email, r.fund_org)
        # as the allocation counts it: EffectiveCost on the effective basis, BilledCost without one
        charged = (
            r.effective_cost
            if r.cost_basis == "effective" and r.effective_cost is not None
            else r.billed_cost
        )
        yield {
            "period": period_row.name,
            "charge_id": r.id,
            "source": r.source,
            "pi_email": pi,
            "project_id": r.project_id,
            "fund_org": fund,
            "service": r.service_name,
            "resource_id": r.resource_id,
            "resource_name": r.resource_name,
            "currency": r.billing_currency,
            "list_cost": r.list_cost,
            "billed_cost": r.billed_cost,
            "effective_cost": r.effective_cost,
            "charged": charged,
            "account_code": r.account_code,
            "reference_1": r.reference_1,
            "reference_2": r.reference_2,
        }


def posting_dict(p: dom.Posting) -> dict:
    """A posting as template data (amounts as Decimal)."""
    return {
        "currency": p.currency,
        "source": p.source,
        "source_name": p.source_name,
        "role": p.role,
        "fund_org": p.fund_org,
        **dict(zip(dom.PARTS, p.parts, strict=True)),
        "account": p.account,  # the account posted (not only the fund/org's account part)
        "account_origin": p.account_origin,
        "pi_email": p.pi_email,
        "project_id": p.project_id,
        "description": p.description,
        "reference": p.reference,
        "amount": p.amount,
        "debit": p.debit,
        "credit": p.credit,
        "reversal": p.reversal,
    }


def source_totals(postings, recoveries_by_name: dict[str, dom.Recovery]) -> list[dict]:
    out: dict[tuple, dict] = {}
    for p in postings:
        t = out.get((p.currency, p.source))
        if t is None:
            r = recoveries_by_name.get(p.source)
            t = out[(p.currency, p.source)] = {
                "source": p.source,
                "source_name": p.source_name,
                "currency": p.currency,
                "debit": ZERO,
                "credit": ZERO,
                "postings": 0,
                "recovery_fund_org": r.fund_org if r else None,
                "recovery_account": None,
            }
        t["debit"] += p.debit
        t["credit"] += p.credit
        t["postings"] += 1
        if p.role == "recovery":
            t["recovery_fund_org"], t["recovery_account"] = p.fund_org, p.account
    return [out[k] for k in sorted(out)]
