"""A PI disputes a charge, or a line of a statement sent to them, with a reason; a
reviewer decides it with a reply, which the PI then sees. A PI acknowledges a statement
version sent to them. Every step is in the audit log.

The decision and its remedy are one transaction:

- *upheld*: the PI is right, the charge is not billed: it is rejected in review;
- *corrected*: the charge is billed to another PI, project or fund: its attribution is
  corrected in review;
- *declined*: the charge stands as billed.

While the charge's period is open the remedy changes the charge itself. Once the period
is closed its statements are issued and its journal may be posted, so the charge is left
as it was and the remedy is an adjustment in the newest open period: a credit of what the
charge cost (its amount due, rounded to the currency's minor unit as statements round it)
to its attribution and, for a correction, the same amount charged to the new one. With
no open period such a decision is refused until one is opened.

A statement line's dispute is one dispute per charge behind the line (so each charge is
"disputed" in the review queue), decided once for the whole line.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.money import round_currency, to_str
from openchargeback.domain.periods import PeriodStatus
from openchargeback.domain.scope import ALL, Scope
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.services.portal.views import SentStatement, sent_statement
from openchargeback.services.review.correct import correct_in
from openchargeback.services.review.decide import decide_in
from openchargeback.services.review.selection import Selection
from openchargeback.storage import allocation as alloc_repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import portal as repo

DECISIONS = ("upheld", "corrected", "declined")
MAX_TEXT = 2000


@dataclass(frozen=True)
class Dispute(Jsonable):
    id: int
    charge_id: int  # a line's dispute: its first charge
    pi_email: str
    reason: str
    raised_by: str
    raised_at: datetime
    status: str  # open | upheld | corrected | declined
    reply: str | None
    decided_by: str | None
    decided_at: datetime | None
    statement: str | None = None  # a line's dispute: "NUMBER vN"
    line: str | None = None  # ... and the line as the statement shows it
    charges: int = 1  # how many charges the dispute covers
    remedy: str | None = None  # what the decision changed


def _view(r, charges: int = 1) -> Dispute:
    return Dispute(
        r.id,
        r.charge_id,
        r.pi_email,
        r.reason,
        r.raised_by,
        r.raised_at,
        "open" if r.open else r.decision,
        r.reply,
        r.decided_by,
        r.decided_at,
        f"{r.number} v{r.version}" if r.statement_id is not None else None,
        r.line,
        charges,
        r.remedy,
    )


def _text(value: str, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{what} is empty; say why")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{what} has {len(text)} characters; at most {MAX_TEXT}")
    return text


def raise_dispute(
    ctx: Context, scope: Scope, charge_id: int, reason: str, *, ip: str | None = None
) -> Dispute:
    text = _text(reason, "the reason")
    with ctx.write() as conn:
        owner = repo.charge_owner(conn, charge_id)
        if owner is None or owner.pi_email is None or not scope.allows(owner.pi_email):
            raise NotFound(f"charge #{charge_id} does not exist")
        new_id = repo.add_dispute(
            conn,
            {
                "charge_id": charge_id,
                "pi_email": owner.pi_email,
                "reason": text,
                "raised_by": ctx.actor,
                "raised_at": ctx.clock(),
            },
        )
        if new_id is None:
            raise Conflict(f"charge #{charge_id} has an open dispute already; wait for the reviewer's reply")
        audit.record_in(conn, ctx, "dispute.raise", f"charge #{charge_id}", text, ip)
        return _view(repo.dispute(conn, new_id))


@dataclass(frozen=True)
class StatementLine(Jsonable):
    line: int  # its number, from 1, in the statement's order
    fund: str | None
    source: str | None
    service: str
    kind: str
    due: Decimal
    charges: int
    disputable: bool  # a line of charges (an adjustment's line is not)

    @property
    def label(self) -> str:
        return " · ".join(x for x in (self.service, self.kind, self.source, self.fund) if x)


def statement_lines(ctx: Context, scope: Scope, number: str, version: int) -> tuple[StatementLine, ...]:
    """The lines of a statement version sent to the scope's PIs."""
    from openchargeback.services import statements

    sent_statement(ctx, scope, number, version)
    data = statements.get_statement(ctx, number, version).data
    return tuple(
        StatementLine(
            n,
            ln["fund"],
            ln["source"],
            ln["service"],
            ln["kind_label"],
            Decimal(ln["due"]),
            ln["charges"],
            ln["origin"] == "charges" and data["kind"] == "project",
        )
        for n, ln in enumerate(data.get("lines", []), start=1)
    )


def raise_line_dispute(
    ctx: Context, scope: Scope, number: str, version: int, line: int, reason: str, *, ip: str | None = None
) -> Dispute:
    """Dispute line ``line`` of a statement version: every charge behind it gets an open
    dispute with this reason (one already disputed keeps its own)."""
    text = _text(reason, "the reason")
    s = sent_statement(ctx, scope, number, version)
    if s.status != "current":
        raise Conflict(f"statement {number} v{version} is {s.status}; dispute a line of its current version")
    lines = statement_lines(ctx, scope, number, version)
    if not 1 <= line <= len(lines):
        raise NotFound(f"statement {number} v{version} has no line {line} (it has {len(lines)})")
    ln = lines[line - 1]
    if not ln.disputable:
        raise InvalidInput(
            f"line {line} of {number} v{version} is not a line of charges (an adjustment or a summary); "
            "write to the billing office about it"
        )
    with ctx.write() as conn:
        row = repo.sent_statement_row(conn, s.id)
        ids = repo.line_charges(
            conn,
            row.period_id,
            pi_email=s.pi_email,
            project_id=s.project_id,
            currency=s.currency,
            source=ln.source,
            service=None if ln.service == "(no service)" else ln.service,
            fund_org=ln.fund,
        )
        if not ids:
            raise Conflict(
                f"line {line} of {number} v{version} has no billed charge left (rejected or corrected "
                "since); the next version of the statement shows it"
            )
        label = f"line {line}: {ln.label}"[:300]
        added = repo.add_line_disputes(
            conn,
            ids,
            {
                "pi_email": s.pi_email,
                "reason": text,
                "raised_by": ctx.actor,
                "raised_at": ctx.clock(),
                "statement_id": s.id,
                "line": label,
            },
        )
        if not added:
            raise Conflict(f"every charge of line {line} has an open dispute already; wait for the reply")
        audit.record_in(
            conn, ctx, "dispute.raise", f"{number} v{version} {label}", f"{added} charge(s): {text}", ip
        )
        first = repo.disputes(conn, statement_id=s.id, line=label, open_only=True)
        return _view(first[-1], added)


def list_disputes(
    ctx: Context, scope: Scope = ALL, *, open_only: bool = False, charge_ids: list[int] | None = None
) -> tuple[Dispute, ...]:
    """Newest first; a line's disputes are one item (its first charge, and how many)."""
    held = tuple(sorted(scope.pis)) if scope.pis is not None else None
    with ctx.read() as conn:
        rows = repo.disputes(conn, pi_emails=held, open_only=open_only, charge_ids=charge_ids)
    groups: dict[Any, list[Any]] = defaultdict(list)
    for r in rows:
        key = r.id if r.statement_id is None else (r.statement_id, r.line, r.open, r.decided_at)
        groups[key].append(r)
    return tuple(_view(min(g, key=lambda r: r.id), len(g)) for g in groups.values())


@dataclass(frozen=True)
class Listed(Jsonable):
    """A dispute as the PI's list shows it: with its charge's period and what the PI pays
    for it; ``amount`` None when the charge is gone (withdrawn by a --replace import)."""

    dispute: Dispute
    period: str | None
    amount: Decimal | None
    currency: str | None
    exists: bool  # the charge (a line's: every one of them) still exists
    withdrawn_by_import: int | None


@dataclass(frozen=True)
class DisputePage(Jsonable):
    items: tuple[Listed, ...]
    before: int | None  # the next page's key (its disputes are older), None on the last


PAGE = 50


def dispute_page(ctx: Context, scope: Scope, *, before: int | None = None, limit: int = PAGE) -> DisputePage:
    """The disputes of the PIs ``scope`` holds (every one, for staff), newest first, a
    page of ``limit`` at a time; a line's disputes are one item, as in :func:`list_disputes`."""
    held = tuple(sorted(scope.pis)) if scope.pis is not None else None
    with ctx.read() as conn:
        rows = repo.dispute_list(conn, pi_emails=held, before=before, limit=limit + 1)
    items = tuple(
        Listed(
            _view(r, r.charges),
            r.period,
            r.due if r.live else None,
            r.currency,
            r.live == r.charges,
            r.withdrawn_by_import,
        )
        for r in rows[:limit]
    )
    return DisputePage(items, items[-1].dispute.id if len(rows) > limit else None)


def _remedy(
    ctx: Context, conn, ids: list[int], decision: str, reply: str, new: dict[str, str | None], label: str
) -> str | None:
    """Apply the decision to the disputed charges; what it did, in words."""
    if decision == "declined":
        return None
    charges = repo.disputed_charges(conn, ids)
    by_period: dict[int, list[Any]] = defaultdict(list)
    for c in charges:
        by_period[c.period_id].append(c)
    note = f"{label} {decision}: {reply}"
    done = []
    for period_id, cs in by_period.items():
        period = periods_repo.lock(conn, period_id)  # a close waits; an open period stays open
        sel = Selection(ids=tuple(c.id for c in cs))
        if PeriodStatus(period.status) == PeriodStatus.OPEN:
            if decision == "upheld":
                decide_in(conn, ctx, period, sel, "rejected", note)
                done.append(f"{len(cs)} charge(s) of {period.name} rejected")
            else:
                correct_in(
                    conn,
                    ctx,
                    period,
                    sel,
                    pi_email=new["pi_email"],
                    project_id=new["project_id"],
                    fund_org=new["fund_org"],
                    note=note,
                )
                done.append(f"{len(cs)} charge(s) of {period.name} corrected")
        else:
            done.append(_adjust(ctx, conn, period, cs, decision, new, note))
    return "; ".join(done)


def _adjust(ctx: Context, conn, closed: Any, cs: list[Any], decision: str, new: dict, note: str) -> str:
    """The credit (and, for a correction, the charge to the new attribution) in the
    newest open period, one line per attribution, source and currency of the charges."""
    into = repo.newest_open_period(conn)
    if into is None:
        raise Conflict(
            f"period {closed.name} is {closed.status}, so the remedy is an adjustment in an open "
            "period, and no period is open; open the next period first"
        )
    sums: dict[tuple, Decimal] = defaultdict(Decimal)
    # only what the period's statements billed: approved charges (a rejected or a still
    # pending one was left out of them, so there is nothing to credit)
    for c in (c for c in cs if c.review == "approved" or (c.review is None and not c.flags)):
        sums[(c.pi_email, c.project_id, c.fund_org, c.source_id, c.source, c.currency)] += c.due
    made = []
    now = ctx.clock()
    for (pi, project, fund, source_id, source, currency), due in sorted(sums.items(), key=str):
        amount = round_currency(due, currency)
        if amount == 0:
            continue
        targets = [(-amount, pi, project, fund)]
        if decision == "corrected":
            targets.append(
                (amount, new["pi_email"] or pi, new["project_id"] or project, new["fund_org"] or fund)
            )
        for value, p, pr, f in targets:
            values = {
                "period_id": into.id,
                "pi_email": p,
                "project_id": pr,
                "fund_org": f,
                "source_id": source_id,
                "currency": currency,
                "amount": value,
                "reason": f"{note} (charges of {closed.name})"[:2000],
            }
            aid = alloc_repo.add_adjustment(conn, values, ctx.actor, now)
            what = {"amount": to_str(value), "currency": currency, "pi_email": p, "project_id": pr}
            what |= {"fund_org": f, "source": source, "reason": values["reason"]}
            audit.record_in(conn, ctx, "adjustment.add", f"{into.name} #{aid}", json.dumps(what))
            made.append(f"adjustment #{aid} of {to_str(value)} {currency} in {into.name}")
    return f"charges of {closed.status} period {closed.name} unchanged; " + (
        ", ".join(made) or "none of them was billed, so nothing is credited"
    )


def decide_dispute(
    ctx: Context,
    dispute_id: int,
    decision: str,
    reply: str,
    *,
    pi_email: str | None = None,
    project_id: str | None = None,
    fund_org: str | None = None,
    ip: str | None = None,
) -> Dispute:
    """A reviewer's decision and its remedy (see the module); the reply is what the PI
    reads. A line's dispute is decided for every charge of the line."""
    if decision not in DECISIONS:
        raise InvalidInput(f"decision {decision!r}: expected one of {', '.join(DECISIONS)}")
    text = _text(reply, "the reply")
    new = {
        "pi_email": (pi_email or "").strip().lower() or None,
        "project_id": (project_id or "").strip() or None,
        "fund_org": (fund_org or "").strip() or None,
    }
    if decision == "corrected" and not any(new.values()):
        raise InvalidInput("a correction needs the PI, project or fund the charge belongs to")
    if decision != "corrected" and any(new.values()):
        raise InvalidInput(f"a PI, project or fund is given only with a correction, not when {decision}")
    with ctx.write() as conn:
        row = repo.dispute(conn, dispute_id)
        if row is None:
            raise NotFound(f"dispute #{dispute_id} does not exist")
        if not row.open:
            raise Conflict(f"dispute #{dispute_id} was decided already ({row.decision})")
        ids = repo.dispute_group(conn, row)
        # claimed first: of two reviewers deciding at once, the second applies no remedy
        if repo.decide_disputes(
            conn, ids, decision=decision, reply=text, by=ctx.actor, now=ctx.clock()
        ) != len(ids):
            raise Conflict(f"dispute #{dispute_id} was decided meanwhile by another reviewer")
        remedy = _remedy(ctx, conn, ids, decision, text, new, f"dispute #{dispute_id}")
        repo.set_remedy(conn, ids, remedy)
        target = (
            f"charge #{row.charge_id}" if row.statement_id is None else f"{row.line} ({len(ids)} charges)"
        )
        audit.record_in(
            conn, ctx, f"dispute.{decision}", target, json.dumps({"reply": text, "remedy": remedy}), ip
        )
        return _view(repo.dispute(conn, dispute_id), len(ids))


def acknowledge(
    ctx: Context, scope: Scope, number: str, version: int, *, ip: str | None = None
) -> SentStatement:
    s = sent_statement(ctx, scope, number, version)
    with ctx.write() as conn:
        if not repo.add_ack(conn, s.id, ctx.actor, ctx.clock()):
            raise Conflict(f"statement {number} v{version} was acknowledged already")
        audit.record_in(conn, ctx, "statement.acknowledge", f"{number} v{version}", None, ip)
    return sent_statement(ctx, scope, number, version)
