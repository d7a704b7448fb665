"""Emailing statements: one message per PI and period, with every statement PDF (and
detail CSV) attached, and a log of every message with each recipient's outcome.

Sending has effects outside the database, so it is not one transaction. A batch holds
the period's send lock (:mod:`.sendlock`: one batch per period at a time). It logs its
messages as ``queued`` and claims their statement versions (a version belongs to at most
one unfinished message) in one transaction; each message is then marked ``sending``,
delivered, and its outcome recorded in its own short transaction:

- ``sent``: every recipient accepted it; ``partial``: the PI did, a CC did not;
- ``failed``: the PI did not get it (refused, unbuildable, server unreachable): its
  statements are released and ``resend`` sends it again to those who did not get it;
- ``in_doubt``: transmitted but the final reply never came, or its process died while
  sending: it keeps its statements, so that nothing sends them again until an operator
  resends it (``--in-doubt``) or marks it delivered or not delivered.

A message keeps one Message-ID for life: a resend carries the original's, so a copy that
arrives twice is recognisable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from openchargeback.config import Settings
from openchargeback.delivery import BadAddress, DeliveryError, Sender, make_sender, parse_address
from openchargeback.delivery.outbox import OutboxSender
from openchargeback.domain.errors import ConfigError, Conflict, NotFound
from openchargeback.domain.jsonable import JSON, Jsonable, to_json
from openchargeback.domain.periods import Period
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.services.statements import notices, sendlock
from openchargeback.services.statements.message import (
    build,
    build_notice,
    delivered_status,
    recipient_outcomes,
)
from openchargeback.storage import registry as registry_repo
from openchargeback.storage import statements as store

Progress = Callable[[int, int], None]
DONE = ("sent", "partial")  # the PI has it


@dataclass(frozen=True)
class MessageOutcome(Jsonable):
    id: int
    pi_email: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    statements: tuple[str, ...]  # NUMBER vVERSION
    status: str  # queued | sending | sent | partial | failed | in_doubt
    attempts: int
    error: str | None = None
    outbox_path: str | None = None
    resend_of: int | None = None
    recipients: tuple[dict[str, Any], ...] = ()  # {"address", "kind", "status", "reply"}
    message_id: str | None = None
    decision: str | None = None
    created_at: datetime | None = None
    kind: str = "statement"  # statement | notice (a sent version was withdrawn or superseded)


@dataclass(frozen=True)
class DeliveryReport(Jsonable):
    period: str
    transport: str
    messages: tuple[MessageOutcome, ...]
    skipped_sent: int = field(
        metadata={JSON: "skipped_already_sent"}
    )  # versions left out: they were sent before
    in_doubt_held: tuple[int, ...] = field(
        default=(), metadata={JSON: "skipped_in_doubt"}
    )  # messages holding versions
    recovered: tuple[int, ...] = field(
        default=(), metadata={JSON: "recovered_in_doubt"}
    )  # left by a dead batch
    stopped: str | None = None  # why the batch stopped early (server unreachable)

    @property
    def sent(self) -> int:
        return sum(1 for m in self.messages if m.status in DONE)

    @property
    def failed(self) -> int:
        return sum(1 for m in self.messages if m.status not in DONE)

    @property
    def in_doubt(self) -> int:
        return sum(1 for m in self.messages if m.status == "in_doubt")

    def as_json(self) -> dict[str, Any]:
        # the counts are computed, not fields
        return {**to_json(self), "sent": self.sent, "failed": self.failed, "in_doubt": self.in_doubt}


def _recipients(
    settings: Settings, pi_email: str, projects: list[str | None], contacts: tuple[str, ...] = ()
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(to, cc, invalid): the PI, the copies (config, then registry contacts), and the
    addresses left out because they are not one valid address."""
    domains = settings.email.allowed_domains
    to = [parse_address(pi_email, domains)]
    cc: list[str] = []
    invalid: list[dict[str, Any]] = []
    wanted = [a for p in projects for a in settings.email.cc.get(p or "", [])] + list(contacts)
    for raw in wanted:
        try:
            addr = parse_address(raw, domains)
        except BadAddress as exc:
            invalid.append({"address": raw, "kind": "cc", "status": "invalid", "reply": str(exc)})
            continue
        if addr.lower() not in {a.lower() for a in to + cc}:
            cc.append(addr)
    return to, cc, invalid


def send_period(
    ctx: Context,
    period: str,
    *,
    resend: bool = False,
    pi: str | None = None,
    project: str | None = None,
    sender: Sender | None = None,
    progress: Progress | None = None,
) -> DeliveryReport:
    """Email each PI the current statements of the period not sent yet (all of them with
    ``resend``). Versions held by an in-doubt message are left out and reported."""
    name = Period.parse(period).name
    sender = sender or make_sender(ctx.settings)
    with ctx.read() as conn:
        prow = lookup.period(conn, name)
    with sendlock.holding(ctx, prow.id, name) as batch:
        planned, skipped, held = _plan(ctx, prow.id, name, batch.token, sender, resend, pi, project)
        outcomes, stopped = _deliver(ctx, sender, planned, progress, batch)
    return DeliveryReport(name, sender.transport, tuple(outcomes), skipped, held, batch.recovered, stopped)


def _plan(
    ctx: Context,
    period_id: int,
    name: str,
    token: str,
    sender: Sender,
    resend: bool,
    pi: str | None,
    project: str | None,
) -> tuple[list[int], int, tuple[int, ...]]:
    now = ctx.clock()
    domain = ctx.settings.email.from_address.rpartition("@")[2] or "localhost"
    with ctx.write() as conn:
        rows = store.current(conn, period_id, pi=pi, project=project)
        to_announce = notices.pending(conn, period_id, pi=pi, project=project)
        if not rows and not to_announce and not store.retired_sent(conn, period_id):
            none = f"period {name} has no statements{_filter_text(pi, project)}"
            raise NotFound(
                f"{none}; generate them first (`openchargeback generate -p {name}`)",
                web=f"{none}; generate them first",
            )
        skipped = sum(1 for r in rows if r.sent_at is not None and not resend)
        claimed = store.claims(conn, [r.id for r in rows])
        held = tuple(sorted({claimed[r.id] for r in rows if r.id in claimed}))
        by_pi: dict[str | None, list[Any]] = {}
        for r in rows:
            if (resend or r.sent_at is None) and r.id not in claimed:
                by_pi.setdefault(r.pi_email, []).append(r)
        planned = []
        contacts = registry_repo.contacts(conn, sorted({p.lower() for p in by_pi if p}))
        for pi_email, items in sorted(by_pi.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
            to: list[str] = []
            cc: list[str] = []
            invalid: list[dict[str, Any]] = []
            error = None
            if not pi_email:
                error = "the statements have no PI email: nobody to send them to"
            else:
                try:
                    to, cc, invalid = _recipients(
                        ctx.settings,
                        pi_email,
                        [r.project_id for r in items],
                        contacts.get(pi_email.lower(), ()),
                    )
                except BadAddress as exc:
                    error = f"the PI address is refused: {exc}; correct it (review or registry), then send"
            mid = store.add_message(
                conn,
                {
                    "period_id": period_id,
                    "pi_email": pi_email,
                    "recipients": {"to": to, "cc": cc},
                    "subject": _subject(ctx.settings, name, pi_email),
                    "transport": sender.transport,
                    "status": "failed" if error else "queued",
                    "attempts": 0,
                    "error": error,
                    "message_id": make_msgid(domain=domain),
                    "outcomes": json.dumps(invalid) if invalid else None,
                    "batch": token,
                    "actor": ctx.actor,
                    "created_at": now,
                    "finished_at": now if error else None,
                },
                [r.id for r in items],
            )
            if error:
                audit.record_in(conn, ctx, "statements.email.failed", name, f"message {mid}: {error}")
            else:
                store.claim(conn, mid, [r.id for r in items], now)
            planned.append(mid)
        planned += [_plan_notice(ctx, conn, period_id, name, token, sender, n, domain) for n in to_announce]
    return planned, skipped, held


def _plan_notice(
    ctx: Context,
    conn: Any,
    period_id: int,
    name: str,
    token: str,
    sender: Sender,
    n: notices.Pending,
    domain: str,
) -> int:
    """Log (and claim the versions of) the notice to one PI that statements sent to them
    were withdrawn or superseded. The CCs are those of the messages that carried them."""
    now = ctx.clock()
    error = None
    to: list[str] = []
    cc: list[str] = []
    invalid: list[dict[str, Any]] = []
    try:
        to, cc, invalid = _recipients(ctx.settings, n.pi_email, [], n.cc)
    except BadAddress as exc:
        error = f"the PI address is refused: {exc}"
    ids = [r.id for r in n.rows]
    mid = store.add_message(
        conn,
        {
            "period_id": period_id,
            "pi_email": n.pi_email,
            "recipients": {"to": to, "cc": cc},
            "subject": notices.subject(ctx.settings.statements.branding.organisation, name),
            "transport": sender.transport,
            "status": "failed" if error else "queued",
            "attempts": 0,
            "error": error,
            "message_id": make_msgid(domain=domain),
            "outcomes": json.dumps(invalid) if invalid else None,
            "batch": token,
            "actor": ctx.actor,
            "created_at": now,
            "finished_at": now if error else None,
            "kind": notices.KIND,
        },
        ids,
    )
    if error:
        audit.record_in(conn, ctx, "statements.notice.failed", name, f"message {mid}: {error}")
    else:
        store.claim(conn, mid, ids, now)
    return mid


def resend_messages(
    ctx: Context,
    message_ids: list[int],
    *,
    force: bool = False,
    in_doubt: bool = False,
    sender: Sender | None = None,
) -> DeliveryReport:
    """Send a logged message again (same headers, same Message-ID, same statement
    versions) to those of its recipients who did not get it. A message that was
    delivered is refused unless ``force`` (then it goes to everybody again); an in-doubt
    message only with ``in_doubt`` (an explicit decision: the PI may get two copies; it
    goes to everybody)."""
    sender = sender or make_sender(ctx.settings)
    with ctx.read() as conn:
        found = [_message(conn, mid) for mid in message_ids]
    periods = {m.period_id: m.period for m in found}
    if len(periods) != 1:
        raise Conflict(
            "resend messages of one period at a time (these are of "
            + ", ".join(sorted(periods.values()))
            + ")"
        )
    ((period_id, period),) = periods.items()
    with sendlock.holding(ctx, period_id, period) as batch:
        planned = _plan_resend(ctx, found, batch.token, sender, force, in_doubt)
        outcomes, stopped = _deliver(ctx, sender, planned, None, batch)
    return DeliveryReport(period, sender.transport, tuple(outcomes), 0, (), batch.recovered, stopped)


def _plan_resend(
    ctx: Context, found: list[Any], token: str, sender: Sender, force: bool, in_doubt: bool
) -> list[int]:
    now = ctx.clock()
    planned = []
    with ctx.write() as conn:
        ids = [m.id for m in found]
        done = store.resent(conn, ids)
        all_items = store.message_items(conn, ids)
        delivered = _delivered(conn, all_items, {m.id for m in found if m.kind == notices.KIND})
        for m in found:
            m = _message(conn, m.id)  # as it is now, under the lock
            mid = m.id
            if m.status in ("queued", "sending"):
                raise Conflict(
                    f"message {mid} to {m.pi_email} is {m.status} by a batch; wait for its outcome"
                )
            if m.status == "in_doubt" and not in_doubt:
                doubt = (
                    f"message {mid} to {m.pi_email} is in doubt: the server may have delivered it. "
                    "Ask the PI; then"
                )
                raise Conflict(
                    f"{doubt} `statements resend {mid} --in-doubt` (they may get two copies) "
                    f"or `statements mark-delivered {mid}` / `statements mark-failed {mid}`",
                    web=f"{doubt} resend it anyway (they may get two copies), or mark it delivered or not "
                    f"delivered, in the email log",
                )
            if (
                not force
                and m.status != "in_doubt"
                and (m.status == "sent" or mid in done or (mid in delivered and m.status != "partial"))
            ):
                how = (
                    ""
                    if m.status == "sent"
                    else " by a resend"
                    if mid in done
                    else ": its statements were all sent by another message"
                )
                raise Conflict(
                    f"message {mid} to {m.pi_email} was delivered{how}; use --force to send it again",
                    web=f"message {mid} to {m.pi_email} was delivered{how}",
                )
            rc = json.loads(m.recipients)
            everyone = rc["to"] + rc["cc"]
            if not everyone:
                raise Conflict(f"message {mid} has no valid recipient ({m.error}); it cannot be resent")
            got = {o["address"] for o in json.loads(m.outcomes or "[]") if o["status"] == "accepted"}
            retry = m.status in ("failed", "partial")  # only to those who did not get it
            envelope = [a for a in everyone if a not in got] if retry else everyone
            items = all_items[mid]
            new = store.add_message(
                conn,
                {
                    "period_id": m.period_id,
                    "pi_email": m.pi_email,
                    "recipients": {**rc, "envelope": envelope},
                    "subject": m.subject,
                    "transport": sender.transport,
                    "status": "queued",
                    "attempts": 0,
                    "message_id": m.message_id,
                    "resend_of_id": mid,
                    "kind": m.kind,
                    "batch": token,
                    "actor": ctx.actor,
                    "created_at": now,
                },
                items,
            )
            if m.status == "in_doubt":
                store.transfer_claims(conn, mid, new)
                decision = f"resent as message {new} by {ctx.actor} at {now:%Y-%m-%d %H:%M} UTC"
                store.finish_message(conn, mid, decision=decision)
                audit.record_in(
                    conn, ctx, "statements.email.in_doubt_resent", m.period, f"message {mid}: {decision}"
                )
            else:
                holders = store.claims(conn, items)
                if holders:
                    other = sorted(set(holders.values()))
                    raise Conflict(
                        f"message {mid}: its statements are held by message(s) "
                        f"{', '.join(map(str, other))} (in doubt or being sent); decide those first"
                    )
                store.claim(conn, new, items, now)
            planned.append(new)
    return planned


def decide_in_doubt(
    ctx: Context, message_id: int, *, delivered: bool, note: str | None = None
) -> MessageOutcome:
    """An operator's decision on an in-doubt message, after checking with the recipient:
    delivered (its statements count as sent) or not delivered (it becomes failed and its
    statements are free to be sent again). Logged with who, when and the note."""
    now = ctx.clock()
    with ctx.write() as conn:
        m = _message(conn, message_id)
        if m.status != "in_doubt":
            raise Conflict(f"message {message_id} is {m.status}, not in doubt; there is nothing to decide")
        verdict = "delivered" if delivered else "not delivered"
        decision = f"marked {verdict} by {ctx.actor} at {now:%Y-%m-%d %H:%M} UTC" + (
            f": {note}" if note else ""
        )
        outcomes = [
            dict(
                o,
                status="accepted" if delivered else "refused_permanent",
                reply=f"{o.get('reply') or ''} ({decision})".strip(),
            )
            if o["status"] == "in_doubt"
            else o
            for o in json.loads(m.outcomes or "[]")
        ]
        store.finish_message(
            conn,
            message_id,
            status="sent" if delivered else "failed",
            decision=decision,
            outcomes=json.dumps(outcomes),
        )
        sids = store.message_items(conn, [message_id])[message_id]
        if delivered:
            store.mark_sent(conn, sids, now)
        store.release(conn, message_id)
        audit.record_in(
            conn,
            ctx,
            f"statements.email.marked_{verdict.replace(' ', '_')}",
            m.period,
            f"message {message_id} to {m.pi_email}: {decision}",
        )
    (row,) = [r for r in message_log(ctx, m.period) if r.id == message_id]
    return row


def failed_messages(ctx: Context, period: str) -> list[int]:
    """Failed or partly delivered messages of the period not resent successfully since
    (in-doubt messages are not among them: see :func:`in_doubt_messages`)."""
    name = Period.parse(period).name
    with ctx.read() as conn:
        prow = lookup.period(conn, name)
        everything = store.messages(conn, prow.id)
        rows = [m for m in everything if m.status in ("failed", "partial")]
        retried = {m.resend_of_id for m in everything if m.resend_of_id and m.status in DONE}
        items = store.message_items(conn, [m.id for m in rows])
        delivered = _delivered(conn, items, {m.id for m in rows if m.kind == notices.KIND})
        return [
            m.id
            for m in rows
            if m.id not in retried
            and (m.status == "partial" or m.id not in delivered)
            and json.loads(m.recipients)["to"]
        ]


def in_doubt_messages(ctx: Context, period: str) -> list[int]:
    name = Period.parse(period).name
    with ctx.read() as conn:
        prow = lookup.period(conn, name)
        return [m.id for m in store.messages(conn, prow.id, status="in_doubt")]


def message_log(ctx: Context, period: str, *, status: str | None = None) -> tuple[MessageOutcome, ...]:
    """The email log of a period with each recipient's outcome."""
    name = Period.parse(period).name
    with ctx.read() as conn:
        prow = lookup.period(conn, name)
        rows = store.messages(conn, prow.id, status=status)
        items = store.message_items(conn, [m.id for m in rows])
        stmts = {s.id: s for s in store.by_ids(conn, sorted({i for v in items.values() for i in v}))}
    return tuple(
        _outcome_of(m, tuple(f"{stmts[i].number} v{stmts[i].version}" for i in items[m.id] if i in stmts))
        for m in rows
    )


def _outcome_of(m: Any, labels: tuple[str, ...]) -> MessageOutcome:
    rc = json.loads(m.recipients)
    return MessageOutcome(
        m.id,
        m.pi_email,
        tuple(rc["to"]),
        tuple(rc["cc"]),
        labels,
        m.status,
        m.attempts,
        m.error,
        m.outbox_path,
        m.resend_of_id,
        tuple(json.loads(m.outcomes or "[]")),
        m.message_id,
        m.decision,
        m.created_at,
        m.kind or "statement",
    )


def _message(conn: Any, mid: int) -> Any:
    m = store.message(conn, mid)
    if m is None:
        raise NotFound(
            f"message {mid} does not exist (see `openchargeback statements messages`)",
            web=f"message {mid} does not exist (the email log lists them)",
        )
    return m


def _delivered(
    conn: Any, items: dict[int, list[int]], notice_ids: set[int] | frozenset[int] = frozenset()
) -> set[int]:
    """Messages whose statement versions have all been delivered (by some other message);
    for a notice: whose versions have all been announced by a delivered notice."""
    sent = {
        r.id
        for r in store.by_ids(conn, sorted({i for m, v in items.items() if m not in notice_ids for i in v}))
        if r.sent_at is not None
    }
    retired = sorted({i for m, v in items.items() if m in notice_ids for i in v})
    announced = {s for s, msgs in store.carried_by(conn, retired, kind=notices.KIND).items() if msgs}
    return {
        m
        for m, sids in items.items()
        if sids and all(s in (announced if m in notice_ids else sent) for s in sids)
    }


def _subject(settings: Settings, period: str, pi_email: str | None) -> str:
    org = settings.statements.branding.organisation
    try:
        return settings.email.subject.format(organisation=org, period=period, pi_email=pi_email or "")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"email.subject {settings.email.subject!r}: unknown placeholder {exc}; use "
            f"{{organisation}}, {{period}} or {{pi_email}}"
        ) from None


def _filter_text(pi: str | None, project: str | None) -> str:
    parts = [f"PI {pi}"] if pi else []
    parts += [f"project {project}"] if project else []
    return f" for {' and '.join(parts)}" if parts else ""


def _deliver(
    ctx: Context, sender: Sender, message_ids: list[int], progress: Progress | None, batch: sendlock.SendBatch
) -> tuple[list[MessageOutcome], str | None]:
    out: list[MessageOutcome] = []
    stopped: str | None = None
    with sender:
        for n, mid in enumerate(message_ids, 1):
            with ctx.read() as conn:
                m = _message(conn, mid)
                sids = store.message_items(conn, [mid])[mid]
                rows = store.by_ids(conn, sids, with_data=True)  # the email names each one's funds
                notice = m.kind == notices.KIND
                docs = {} if notice else store.documents(conn, sids)
                new = notices.replacements(conn, rows) if notice else {}
            labels = tuple(f"{r.number} v{r.version}" for r in rows)
            if m.status != "queued":  # failed while planning (no valid PI address)
                out.append(_outcome_of(m, labels))
                continue
            values: dict[str, Any]
            if stopped:
                values = {"status": "failed", "error": f"not attempted: {stopped}", "outcomes": None}
            else:
                values = _send_one(ctx, sender, m, rows, docs, new)
                if values.pop("unreachable", False):
                    stopped = (
                        f"the batch stopped after message {mid}: the server could not be reached "
                        f"({values['error']}); send again when it is up"
                    )
            _record(ctx, m, sids, labels, values)
            with ctx.read() as conn:
                out.append(_outcome_of(_message(conn, mid), labels))
            sendlock.renew(ctx, batch)
            if progress:
                progress(n, len(message_ids))
    return out, stopped


def _send_one(ctx: Context, sender: Sender, m: Any, rows: Any, docs: Any, new: Any) -> dict[str, Any]:
    rc = json.loads(m.recipients)
    earlier = json.loads(m.outcomes or "[]")  # addresses refused while planning
    try:
        message = build_notice(ctx, m, rows, new) if m.kind == notices.KIND else build(ctx, m, rows, docs)
    except (ValueError, TypeError, LookupError) as exc:  # a header that cannot be written
        return {"status": "failed", "error": f"the message cannot be built: {exc}", "outcomes": None}
    if isinstance(sender, OutboxSender):
        sender.prefix = f"{m.period}-m{m.id}-"
    envelope = rc.get("envelope", rc["to"] + rc["cc"])
    with ctx.write() as conn:
        store.set_status(conn, [m.id], "sending", where_status="queued")
    try:
        result = sender.send(message, envelope)
        status = delivered_status(rc, result.recipients)
        error = None
        if status != "sent":
            error = "not accepted by every recipient: " + "; ".join(
                f"{o.address}: {o.reply}" for o in result.refused()
            )
        return {
            "status": status,
            "error": error,
            "attempts": result.attempts,
            "outbox_path": result.outbox_path,
            "outcomes": json.dumps(recipient_outcomes(rc, result.recipients) + earlier),
        }
    except DeliveryError as exc:
        return {
            "status": "in_doubt" if exc.in_doubt else "failed",
            "error": exc.message,
            "attempts": exc.attempts,
            "outcomes": json.dumps(recipient_outcomes(rc, exc.recipients) + earlier),
            "unreachable": exc.unreachable,
        }


def _record(ctx: Context, m: Any, sids: list[int], labels: tuple[str, ...], values: dict[str, Any]) -> None:
    status = values["status"]
    with ctx.write() as conn:
        store.finish_message(conn, m.id, finished_at=ctx.clock(), **values)
        if status in DONE and m.kind != notices.KIND:  # a notice's versions were sent before
            store.mark_sent(conn, sids, ctx.clock())
        if status != "in_doubt":
            store.release(conn, m.id)
        rc = json.loads(m.recipients)
        audit.record_in(
            conn,
            ctx,
            f"statements.{'notice' if m.kind == notices.KIND else 'email'}.{status}",
            m.period,
            f"message {m.id} to {', '.join(rc['to']) or '(nobody)'}: {', '.join(labels)}"
            + (f": {values['error']}" if values.get("error") else ""),
        )
