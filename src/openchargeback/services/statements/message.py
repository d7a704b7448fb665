"""A statement message as it is sent: built from its logged row (recipients, subject,
Message-ID) and the statement versions it carries; and what a send's per-recipient
outcomes make of it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

from openchargeback.delivery import RecipientOutcome
from openchargeback.domain.money import ZERO, to_str
from openchargeback.domain.periods import Period
from openchargeback.rendering.email import Attachment, build_message
from openchargeback.rendering.statements import email_context
from openchargeback.services.context import Context
from openchargeback.services.statements import notices
from openchargeback.services.statements.render import renderer_for


def build(ctx: Context, m: Any, rows: Sequence[Any], docs: dict[int, Any]) -> EmailMessage:
    """The message of log row ``m``; raises ValueError when a header cannot be written."""
    renderer = renderer_for(ctx.settings)
    e = ctx.settings.email
    rc = json.loads(m.recipients)
    html, text = renderer.email_bodies(_email_context(renderer, m, rows))
    return build_message(
        sender=e.from_address,
        to=rc["to"],
        cc=rc["cc"],
        subject=m.subject,
        reply_to=e.reply_to,
        date=ctx.clock(),
        attachments=_attachments(rows, docs),
        html=html,
        text=text,
        message_id=m.message_id,
    )


def build_notice(ctx: Context, m: Any, rows: Sequence[Any], new: dict[int, Any]) -> EmailMessage:
    """The plain-text notice of log row ``m`` (kind "notice") about the retired versions
    ``rows``; ``new`` maps each to what replaced it (see :mod:`.notices`)."""
    e = ctx.settings.email
    b = ctx.settings.statements.branding
    rc = json.loads(m.recipients)
    text = notices.body(
        m.pi_email,
        m.period,
        rows,
        new,
        b.organisation,
        b.contact,
        b.currency_symbol,
        b.locale,
        ctx.settings.currency,
    )
    return build_message(
        sender=e.from_address,
        to=rc["to"],
        cc=rc["cc"],
        subject=m.subject,
        reply_to=e.reply_to,
        date=ctx.clock(),
        attachments=[],
        html=None,
        text=text,
        message_id=m.message_id,
    )


def recipient_outcomes(rc: dict[str, Any], outcomes: Sequence[RecipientOutcome]) -> list[dict[str, Any]]:
    to = {a.lower() for a in rc["to"]}
    return [
        {
            "address": o.address,
            "kind": "to" if o.address.lower() in to else "cc",
            "status": o.status,
            "reply": o.reply,
        }
        for o in outcomes
    ]


def delivered_status(rc: dict[str, Any], outcomes: Sequence[RecipientOutcome]) -> str:
    """sent (everyone accepted), partial (the PI did, a CC did not) or failed (the PI did
    not). A resend to CCs only is judged by them: sent, or failed when none accepted."""
    to = {a.lower() for a in rc["to"]}
    mine = [o for o in outcomes if o.address.lower() in to]
    if all(o.status == "accepted" for o in outcomes):
        return "sent"
    if mine and all(o.status == "accepted" for o in mine):
        return "partial"
    if not mine and any(o.status == "accepted" for o in outcomes):
        return "partial"
    return "failed"


def _attachments(rows: Sequence[Any], docs: dict[int, Any]) -> list[Attachment]:
    out = []
    for r in rows:
        d = docs[r.id]
        out.append(Attachment(f"{r.number}-v{r.version}.pdf", bytes(d.pdf)))
        if d.detail_csv is not None:
            out.append(Attachment(f"{r.number}-v{r.version}-detail.csv", bytes(d.detail_csv), "text/csv"))
    return out


def _email_context(renderer: Any, m: Any, rows: Sequence[Any]) -> dict[str, Any]:
    period = Period.parse(m.period)
    items: list[dict[str, Any]] = []
    totals: dict[str, list[Decimal]] = {}
    pi_name = None
    for r in rows:
        data = json.loads(r.data)
        pi_name = pi_name or data.get("pi_name")
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
                "funds": data.get("funds", []),
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
    result: dict[str, Any] = email_context(
        m.pi_email,
        {"name": period.name, "start": period.start.isoformat(), "end": period.end.isoformat()},
        items,
        total_items,
        renderer.branding_context(),
        pi_name=pi_name,
    )
    return result
