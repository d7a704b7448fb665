"""Emailing statements: one message per PI and period, with every statement PDF (and
detail CSV) attached, and a log of every message.

Sending has effects outside the database, so it is not one transaction: the batch of
messages is logged as ``queued`` in one transaction, each message is then delivered,
and its outcome (sent or failed, attempts, error) is recorded in its own short
transaction right away. A crash leaves ``queued`` rows: their outcome is unknown and
they can be resent. A statement version that was sent is not sent again unless
``resend`` is asked for; a failed message is resent exactly as it was logged (same
recipients, same statement versions) by :func:`resend_messages`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from openchargeback.config import Settings
from openchargeback.delivery import DeliveryError, Sender, make_sender
from openchargeback.delivery.outbox import OutboxSender
from openchargeback.domain.errors import ConfigError, Conflict, NotFound
from openchargeback.domain.jsonable import Jsonable, json_name, to_json
from openchargeback.domain.money import ZERO, to_str
from openchargeback.domain.periods import Period
from openchargeback.rendering.email import Attachment, build_message
from openchargeback.rendering.statements import email_context
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.services.statements.render import renderer_for
from openchargeback.storage import registry as registry_repo
from openchargeback.storage import statements as store

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MessageOutcome(Jsonable):
    id: int
    pi_email: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    statements: tuple[str, ...]  # NUMBER vVERSION
    status: str  # sent | failed | queued
    attempts: int
    error: str | None = None
    outbox_path: str | None = None
    resend_of: int | None = None


@dataclass(frozen=True)
class DeliveryReport(Jsonable):
    period: str
    transport: str
    messages: tuple[MessageOutcome, ...]
    skipped_sent: int = json_name("skipped_already_sent")  # versions left out: they were sent before

    @property
    def sent(self) -> int:
        return sum(1 for m in self.messages if m.status == "sent")

    @property
    def failed(self) -> int:
        return sum(1 for m in self.messages if m.status != "sent")

    def as_json(self) -> dict:
        # the counts are computed, not fields
        return {**to_json(self), "sent": self.sent, "failed": self.failed}


def _recipients(
    settings: Settings, pi_email: str, projects: list[str | None], contacts: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    cc: list[str] = []
    for p in projects:
        for addr in settings.email.cc.get(p or "", []):
            if addr.lower() != pi_email.lower() and addr.lower() not in {c.lower() for c in cc}:
                cc.append(addr)
    for addr in contacts:
        if addr.lower() != pi_email.lower() and addr.lower() not in {c.lower() for c in cc}:
            cc.append(addr)
    return [pi_email], cc


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
    ``resend``)."""
    name = Period.parse(period).name
    sender = sender or make_sender(ctx.settings)
    now = ctx.clock()
    with ctx.write() as conn:
        prow = lookup.period(conn, name)
        rows = store.current(conn, prow.id, pi=pi, project=project)
        if not rows:
            raise NotFound(
                f"period {name} has no statements{_filter_text(pi, project)}; "
                f"generate them first (`openchargeback generate -p {name}`)"
            )
        skipped = sum(1 for r in rows if r.sent_at is not None and not resend)
        by_pi: dict[str | None, list] = {}
        for r in rows:
            if resend or r.sent_at is None:
                by_pi.setdefault(r.pi_email, []).append(r)
        planned = []
        contacts = registry_repo.contacts(conn, sorted({p.lower() for p in by_pi if p}))
        for pi_email, items in sorted(by_pi.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
            if pi_email:
                to, cc = _recipients(
                    ctx.settings, pi_email, [r.project_id for r in items], contacts.get(pi_email.lower(), ())
                )
            else:
                to, cc = [], []
            mid = store.add_message(
                conn,
                {
                    "period_id": prow.id,
                    "pi_email": pi_email,
                    "recipients": {"to": to, "cc": cc},
                    "subject": _subject(ctx.settings, name, pi_email),
                    "transport": sender.transport,
                    "status": "queued",
                    "attempts": 0,
                    "actor": ctx.actor,
                    "created_at": now,
                },
                [r.id for r in items],
            )
            planned.append(mid)
    outcomes = _deliver(ctx, sender, planned, progress)
    return DeliveryReport(name, sender.transport, tuple(outcomes), skipped)


def resend_messages(
    ctx: Context, message_ids: list[int], *, force: bool = False, sender: Sender | None = None
) -> DeliveryReport:
    """Send again exactly the logged messages (same recipients, same statement versions).
    A message that was sent, or already resent successfully, is refused unless ``force``."""
    now = ctx.clock()
    sender = sender or make_sender(ctx.settings)
    planned, period = [], None
    with ctx.write() as conn:
        done = store.resent(conn, message_ids)
        all_items = store.message_items(conn, message_ids)
        delivered = _delivered(conn, all_items)
        for mid in message_ids:
            m = store.message(conn, mid)
            if m is None:
                raise NotFound(f"message {mid} does not exist (see `openchargeback statements messages`)")
            if not force and (m.status == "sent" or mid in done or mid in delivered):
                how = (
                    ""
                    if m.status == "sent"
                    else " by a resend"
                    if mid in done
                    else ": its statements were all sent by another message"
                )
                raise Conflict(
                    f"message {mid} to {m.pi_email} was delivered{how}; use --force to send it again"
                )
            period = period or m.period
            items = all_items[mid]
            new = store.add_message(
                conn,
                {
                    "period_id": m.period_id,
                    "pi_email": m.pi_email,
                    "recipients": json.loads(m.recipients),
                    "subject": m.subject,
                    "transport": sender.transport,
                    "status": "queued",
                    "attempts": 0,
                    "resend_of_id": mid,
                    "actor": ctx.actor,
                    "created_at": now,
                },
                items,
            )
            planned.append(new)
    return DeliveryReport(period, sender.transport, tuple(_deliver(ctx, sender, planned, None)), 0)


def failed_messages(ctx: Context, period: str) -> list[int]:
    """Failed (or never finished) messages of the period not resent successfully since."""
    name = Period.parse(period).name
    with ctx.read() as conn:
        prow = lookup.period(conn, name)
        everything = store.messages(conn, prow.id)
        rows = [m for m in everything if m.status != "sent"]
        retried = {m.resend_of_id for m in everything if m.resend_of_id}
        items = store.message_items(conn, [m.id for m in rows])
        delivered = _delivered(conn, items)
        return [m.id for m in rows if m.id not in retried and m.id not in delivered]


def _delivered(conn, items: dict[int, list[int]]) -> set[int]:
    """Messages whose statement versions have all been delivered (by some other message)."""
    sent = {
        r.id
        for r in store.by_ids(conn, sorted({i for v in items.values() for i in v}))
        if r.sent_at is not None
    }
    return {m for m, sids in items.items() if sids and all(s in sent for s in sids)}


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
    ctx: Context, sender: Sender, message_ids: list[int], progress: Progress | None
) -> list[MessageOutcome]:
    renderer = renderer_for(ctx.settings)
    e = ctx.settings.email
    out = []
    with sender:
        for n, mid in enumerate(message_ids, 1):
            with ctx.read() as conn:
                m = store.message(conn, mid)
                sids = store.message_items(conn, [mid])[mid]
                rows = store.by_ids(conn, sids)
                docs = store.documents(conn, sids)
            rcpt = json.loads(m.recipients)
            labels = tuple(f"{r.number} v{r.version}" for r in rows)
            status, error, attempts, path, msg_id = "failed", None, 0, None, None
            if not rcpt["to"]:
                error = "the statements have no PI email: nobody to send them to"
            else:
                message = build_message(
                    sender=e.from_address,
                    to=rcpt["to"],
                    cc=rcpt["cc"],
                    subject=m.subject,
                    reply_to=e.reply_to,
                    date=ctx.clock(),
                    attachments=_attachments(rows, docs),
                    **dict(
                        zip(
                            ("html", "text"),
                            renderer.email_bodies(_email_context(renderer, m, rows)),
                            strict=True,
                        )
                    ),
                )
                msg_id = message["Message-ID"]
                if isinstance(sender, OutboxSender):
                    sender.prefix = f"{m.period}-m{mid}-"
                try:
                    result = sender.send(message)
                    status, attempts, path = "sent", result.attempts, result.outbox_path
                except DeliveryError as exc:
                    error, attempts = exc.message, exc.attempts
            with ctx.write() as conn:
                store.finish_message(
                    conn,
                    mid,
                    status=status,
                    error=error,
                    attempts=attempts,
                    message_id=msg_id,
                    outbox_path=path,
                    finished_at=ctx.clock(),
                )
                if status == "sent":
                    store.mark_sent(conn, sids, ctx.clock())
                audit.record_in(
                    conn,
                    ctx,
                    f"statements.email.{status}",
                    m.period,
                    f"message {mid} to {', '.join(rcpt['to']) or '(nobody)'}: {', '.join(labels)}"
                    + (f": {error}" if error else ""),
                )
            out.append(
                MessageOutcome(
                    mid,
                    m.pi_email,
                    tuple(rcpt["to"]),
                    tuple(rcpt["cc"]),
                    labels,
                    status,
                    attempts,
                    error,
                    path,
                    m.resend_of_id,
                )
            )
            if progress:
                progress(n, len(message_ids))
    return out


def _attachments(rows, docs) -> list[Attachment]:
    out = []
    for r in rows:
        d = docs[r.id]
        out.append(Attachment(f"{r.number}-v{r.version}.pdf", bytes(d.pdf)))
        if d.detail_csv is not None:
            out.append(Attachment(f"{r.number}-v{r.version}-detail.csv", bytes(d.detail_csv), "text/csv"))
    return out


def _email_context(renderer, m, rows) -> dict:
    period = Period.parse(m.period)
    items, totals = [], {}
    for r in rows:
        items.append(
            {
                "number": r.number,
                "version": r.version,
                "kind": r.kind,
                "project_id": r.project_id,
                "currency": r.currency,
                "list": to_str(r.list_total),
                "discount": to_str(r.discount_total),
                "due": to_str(r.due_total),
            }
        )
        if r.kind == "project":
            t = totals.setdefault(r.currency, [ZERO, ZERO, ZERO])
            t[0] += r.list_total
            t[1] += r.discount_total
            t[2] += r.due_total
    total_items = [
        {"currency": c, "list": to_str(v[0]), "discount": to_str(v[1]), "due": to_str(v[2])}
        for c, v in sorted(totals.items())
    ]
    return email_context(
        m.pi_email,
        {"name": period.name, "start": period.start.isoformat(), "end": period.end.isoformat()},
        items,
        total_items,
        renderer.branding_context(),
    )
