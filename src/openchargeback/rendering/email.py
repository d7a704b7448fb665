"""A PI's message as an RFC 5322 email: HTML body with a plain-text alternative and the
statements attached. Pure: data in, message out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime: str = "application/pdf"


def build_message(
    *,
    sender: str,
    to: list[str],
    cc: list[str],
    subject: str,
    html: str | None,
    text: str,
    attachments: list[Attachment],
    date: datetime,
    reply_to: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    domain = sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = message_id or make_msgid(domain=domain)
    msg.set_content(text)
    if html is not None:  # None: a plain-text notice
        msg.add_alternative(html, subtype="html")
    for a in attachments:
        maintype, _, subtype = a.mime.partition("/")
        msg.add_attachment(a.content, maintype=maintype, subtype=subtype, filename=a.filename)
    return msg
