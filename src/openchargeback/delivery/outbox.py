"""The development outbox: each message is written as a ``.eml`` file (attachments
included) instead of being sent. File names never collide: a name is claimed with an
exclusive create, and a counter is added when it is taken."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path

from openchargeback.delivery.base import ACCEPTED, DeliveryError, RecipientOutcome, SendResult
from openchargeback.delivery.smtp import envelope_recipients

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxSender:
    transport = "outbox"

    def __init__(self, directory: str | Path, *, prefix: str = ""):
        self.directory = Path(directory)
        self.prefix = prefix

    def __enter__(self) -> OutboxSender:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, message: EmailMessage, recipients: list[str] | None = None) -> SendResult:
        data = message.as_bytes()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            to = _UNSAFE.sub("_", str(message.get("To", "unknown")).split(",")[0].strip())[:80]
            stem = f"{self.prefix}{to}" if self.prefix else to
            n = 0
            while True:
                name = f"{stem}.eml" if n == 0 else f"{stem}-{n}.eml"
                path = self.directory / name
                try:
                    with open(path, "xb") as fh:
                        fh.write(data)
                    break
                except FileExistsError:
                    n += 1
        except OSError as exc:
            raise DeliveryError(
                f"cannot write to the outbox {self.directory}: {exc.strerror or exc}", temporary=False
            ) from None
        rcpt = recipients if recipients is not None else envelope_recipients(message)
        return SendResult(
            attempts=1,
            outbox_path=str(path),
            recipients=tuple(RecipientOutcome(a, ACCEPTED, "written to the outbox") for a in rcpt),
        )
