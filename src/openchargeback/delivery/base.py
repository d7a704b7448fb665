"""The Sender protocol and what a send reports: the outcome of every recipient.

A recipient's outcome is one of:

- ``accepted``: the server took the message for that address (its final reply was 250);
- ``refused_temporary`` / ``refused_permanent``: the server refused it (4xx / 5xx), with
  its reply;
- ``in_doubt``: the message was transmitted but the final reply never came (a timeout or a
  dropped connection after the end of DATA): the server may have delivered it or not;
- ``not_attempted``: the conversation stopped before this address was tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

ACCEPTED = "accepted"
REFUSED_TEMPORARY = "refused_temporary"
REFUSED_PERMANENT = "refused_permanent"
IN_DOUBT = "in_doubt"
NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True)
class RecipientOutcome:
    address: str
    status: str  # accepted | refused_temporary | refused_permanent | in_doubt | not_attempted
    reply: str | None = None  # the server's reply, e.g. "550 5.1.1 no such user"

    def as_json(self) -> dict[str, Any]:
        return {"address": self.address, "status": self.status, "reply": self.reply}


@dataclass(frozen=True)
class SendResult:
    """The message reached the server for at least one recipient (see ``recipients``)."""

    attempts: int
    outbox_path: str | None = None  # where the outbox wrote the message
    recipients: tuple[RecipientOutcome, ...] = ()

    def refused(self) -> tuple[RecipientOutcome, ...]:
        return tuple(r for r in self.recipients if r.status != ACCEPTED)


class DeliveryError(Exception):
    """A message that was not delivered to anybody. ``temporary``: worth trying again
    later. ``in_doubt``: the message was transmitted and the final reply never came, so it
    may have been delivered; never retried automatically. ``unreachable``: the server
    could not be reached at all (a batch stops rather than trying every message)."""

    def __init__(
        self,
        message: str,
        *,
        temporary: bool,
        attempts: int = 1,
        in_doubt: bool = False,
        unreachable: bool = False,
        recipients: tuple[RecipientOutcome, ...] = (),
    ):
        super().__init__(message)
        self.message = message
        self.temporary = temporary
        self.attempts = attempts
        self.in_doubt = in_doubt
        self.unreachable = unreachable
        self.recipients = recipients

    def __str__(self) -> str:
        return self.message


class Sender(Protocol):
    """Delivers messages. Used as a context manager around a batch (one connection)."""

    transport: str  # "smtp" | "outbox"

    def __enter__(self) -> Sender: ...

    def __exit__(self, *exc: object) -> None: ...

    def send(self, message: EmailMessage, recipients: list[str] | None = None) -> SendResult:
        """Deliver one message to ``recipients`` (default: its To and Cc) or raise
        DeliveryError when nobody accepted it."""
        ...
