"""The Sender protocol and what a send reports."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    attempts: int
    outbox_path: str | None = None  # where the outbox wrote the message


class DeliveryError(Exception):
    """A message that could not be delivered. ``temporary``: worth trying again later."""

    def __init__(self, message: str, *, temporary: bool, attempts: int = 1):
        super().__init__(message)
        self.message = message
        self.temporary = temporary
        self.attempts = attempts

    def __str__(self) -> str:
        return self.message


class Sender(Protocol):
    """Delivers messages. Used as a context manager around a batch (one connection)."""

    transport: str  # "smtp" | "outbox"

    def __enter__(self) -> Sender: ...

    def __exit__(self, *exc) -> None: ...

    def send(self, message: EmailMessage) -> SendResult:
        """Deliver one message or raise DeliveryError."""
        ...
