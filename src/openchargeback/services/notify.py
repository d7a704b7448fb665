"""The seam through which services send email. Delivery (SMTP, a file outbox) comes with
the statements work and implements :class:`Sender`; until then callers pass None and
nothing is sent (what would have been sent stays recorded, e.g. on budget alerts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    to: tuple[str, ...]
    subject: str
    body: str  # plain text
    cc: tuple[str, ...] = ()


class Sender(Protocol):
    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise; a raise leaves the notification unsent (retried)."""


class EmailSender:
    """Adapts a delivery sender (``send(email.message.EmailMessage)``, e.g. the SMTP sender
    or file outbox of :mod:`openchargeback.delivery`) to :class:`Sender`."""

    def __init__(self, delivery, from_address: str, reply_to: str | None = None):
        self.delivery = delivery
        self.from_address = from_address
        self.reply_to = reply_to

    def send(self, message: Message) -> None:
        from email.message import EmailMessage

        mail = EmailMessage()
        mail["From"] = self.from_address
        mail["To"] = ", ".join(message.to)
        if message.cc:
            mail["Cc"] = ", ".join(message.cc)
        if self.reply_to:
            mail["Reply-To"] = self.reply_to
        mail["Subject"] = message.subject
        mail.set_content(message.body)
        self.delivery.send(mail)
