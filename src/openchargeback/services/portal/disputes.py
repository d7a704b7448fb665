"""A PI disputes a charge with a reason; a reviewer upholds or declines it with a reply,
which the PI then sees. A PI acknowledges a statement version sent to them. Every step
is in the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.scope import ALL, Scope
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.services.portal.views import SentStatement, sent_statement
from openchargeback.storage import portal as repo

DECISIONS = ("upheld", "declined")
MAX_TEXT = 2000


@dataclass(frozen=True)
class Dispute(Jsonable):
    id: int
    charge_id: int
    pi_email: str
    reason: str
    raised_by: str
    raised_at: datetime
    status: str  # open | upheld | declined
    reply: str | None
    decided_by: str | None
    decided_at: datetime | None


def _view(r) -> Dispute:
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


def list_disputes(
    ctx: Context, scope: Scope = ALL, *, open_only: bool = False, charge_ids: list[int] | None = None
) -> tuple[Dispute, ...]:
    held = tuple(sorted(scope.pis)) if scope.pis is not None else None
    with ctx.read() as conn:
        return tuple(
            _view(r) for r in repo.disputes(conn, pi_emails=held, open_only=open_only, charge_ids=charge_ids)
        )


def decide_dispute(
    ctx: Context, dispute_id: int, decision: str, reply: str, *, ip: str | None = None
) -> Dispute:
    """A reviewer's decision; the reply is what the PI reads. A correction itself is made
    the usual way (review correct, or an adjustment in an open period)."""
    if decision not in DECISIONS:
        raise InvalidInput(f"decision {decision!r}: expected upheld or declined")
    text = _text(reply, "the reply")
    with ctx.write() as conn:
        row = repo.dispute(conn, dispute_id)
        if row is None:
            raise NotFound(f"dispute #{dispute_id} does not exist")
        if not repo.decide_dispute(
            conn, dispute_id, decision=decision, reply=text, by=ctx.actor, now=ctx.clock()
        ):
            raise Conflict(f"dispute #{dispute_id} was decided already ({row.decision})")
        audit.record_in(conn, ctx, f"dispute.{decision}", f"charge #{row.charge_id}", text, ip)
        return _view(repo.dispute(conn, dispute_id))


def acknowledge(
    ctx: Context, scope: Scope, number: str, version: int, *, ip: str | None = None
) -> SentStatement:
    s = sent_statement(ctx, scope, number, version)
    with ctx.write() as conn:
        if not repo.add_ack(conn, s.id, ctx.actor, ctx.clock()):
            raise Conflict(f"statement {number} v{version} was acknowledged already")
        audit.record_in(conn, ctx, "statement.acknowledge", f"{number} v{version}", None, ip)
    return sent_statement(ctx, scope, number, version)
