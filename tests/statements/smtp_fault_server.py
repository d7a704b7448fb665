"""An SMTP server for the delivery tests, run as its own process:
``python smtp_fault_server.py PORT DIR``.

It is told what to do through ``DIR/plan.json``, read at each command:

- ``"rcpt": {"ADDRESS": "550 5.1.1 no such user"}``: refuse that recipient with that
  reply every time; a list of replies is consumed one per RCPT (then accepted);
- ``"data": [...]``: what to do at the next DATA commands, one entry each (then "250"):
  a reply such as ``"451 4.3.0 busy"`` (refused, nothing kept), ``"delay:SECONDS"``
  (keep the message, answer 250 that late), ``"drop"`` (close the connection without
  an answer, nothing kept), ``"accept_drop"`` (keep the message, close without answer).

Every message kept is written to ``DIR/received/NNNNNN.json`` (envelope, Message-ID,
raw content); ``DIR/data_started`` gets one line per DATA received."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller


class Locked:
    def __init__(self, folder: Path):
        self.folder = folder
        self.lock = folder / "plan.lock"

    def __enter__(self):
        self.fh = open(self.lock, "a+")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        path = self.folder / "plan.json"
        self.plan = json.loads(path.read_text()) if path.exists() else {}
        return self.plan

    def __exit__(self, *exc):
        (self.folder / "plan.json").write_text(json.dumps(self.plan))
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


class FaultHandler:
    def __init__(self, folder: Path):
        self.folder = folder
        (folder / "received").mkdir(parents=True, exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with Locked(self.folder) as plan:
            reply = plan.get("rcpt", {}).get(address)
            if isinstance(reply, list):
                reply = reply.pop(0) if reply else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def _keep(self, envelope) -> None:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        n = len(list((self.folder / "received").glob("*.json")))
        plain = msg.get_body(("plain",))
        record = {
            "from": envelope.mail_from,
            "rcpt": list(envelope.rcpt_tos),
            "message_id": msg["Message-ID"],
            "to": msg["To"],
            "cc": msg["Cc"],
            "subject": msg["Subject"],
            "text": plain.get_content() if plain is not None else "",
            "at": time.time(),
        }
        tmp = self.folder / "received" / f".{n:06d}.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.folder / "received" / f"{n:06d}-{os.getpid()}-{time.monotonic_ns()}.json")

    async def handle_DATA(self, server, session, envelope):
        with open(self.folder / "data_started", "a") as fh:
            fh.write(",".join(envelope.rcpt_tos) + "\n")
        with Locked(self.folder) as plan:
            todo = plan.get("data") or []
            action = todo.pop(0) if todo else "250"
        if action.startswith("delay:"):
            self._keep(envelope)
            await asyncio.sleep(float(action.split(":", 1)[1]))
            return "250 OK"
        if action == "drop":
            server.transport.close()
            return "421 closing"  # never reaches the client
        if action == "accept_drop":
            self._keep(envelope)
            server.transport.close()
            return "421 closing"
        if action.startswith("250"):
            self._keep(envelope)
        return action


def main() -> None:
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    controller = Controller(FaultHandler(folder), hostname="127.0.0.1", port=port)
    controller.start()
    (folder / "ready").write_text(str(os.getpid()))
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
