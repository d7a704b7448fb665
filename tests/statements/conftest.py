"""Statement fixtures: the sample data imported and reviewed, a fixed clock, and an
in-process SMTP server (aiosmtpd) that can be told to fail, and one in its own process
(``smtp_fault_server.py``) that refuses chosen recipients, delays its final reply or drops
the connection. (The ``snapshot`` fixture is
in tests/conftest.py.)"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from conftest import INPUTS

SOURCES = ("aws", "azure", "hpc", "storage", "it_storage")
FIXED_NOW = datetime(2025, 2, 3, 14, 30, tzinfo=UTC)


def statement_settings(tmp: Path, **extra) -> dict:
    """Settings (besides database and sources) for statements written under ``tmp``."""
    out = {
        # as in config.example.yaml: the sample's grant and request numbers are references
        "tag_mapping": {"reference_1": "grant_number", "reference_2": "request_id"},
        "statements": {
            "output_dir": str(tmp / "out"),
            "detail_line_limit": 3,
            "number_prefix": "RC",
            "branding": {
                "organisation": "Research Computing Services",
                "contact": "1 Campus Drive, Example City\nbilling@rc.example.edu",
                "currency_symbol": "$",
            },
        },
        "email": {
            "outbox_dir": str(tmp / "outbox"),
            "from_address": "billing@rc.example.edu",
            "cc": {"climate-modeling": ["dept-admin@example.edu"]},
            "backoff_seconds": 0,
            "rate_per_minute": 0,
            "security": "none",
            "smtp_host": "127.0.0.1",
            "retries": 2,
        },
    }
    for key, value in extra.items():
        if isinstance(value, dict) and key in out:
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def fixed_clock():
    return FIXED_NOW


@pytest.fixture
def make_stmt_ctx(make_ctx, tmp_path):
    """make_stmt_ctx(url, **settings) -> a Context with statement settings and a fixed clock."""

    def make(url: str, **extra):
        ctx = make_ctx(url, **statement_settings(tmp_path, **extra))
        ctx.clock = fixed_clock
        return ctx

    return make


def load_sample(ctx, period: str = "2025-01") -> None:
    from openchargeback.services.ingest.loading import ingest

    for s in SOURCES:
        ingest(ctx, INPUTS / f"{s}_{period}.csv", s, period=period)


def review_some(ctx, period: str = "2025-01") -> dict:
    """Reject one charge and leave one flagged without a decision; returns their ids and
    amounts (billed)."""
    from openchargeback.storage.tables import charges, periods

    with ctx.engine.begin() as conn:
        pid = conn.execute(select(periods.c.id).where(periods.c.name == period)).scalar_one()
        rows = conn.execute(
            select(charges.c.id, charges.c.billed_cost, charges.c.project_id)
            .where(charges.c.period_id == pid, charges.c.billed_cost > 0)
            .order_by(charges.c.id)
        ).all()
        rejected, pending = rows[0], rows[1]
        conn.execute(
            charges.update()
            .where(charges.c.id == rejected.id)
            .values(review="rejected", review_note="not ours", reviewed_by="t", reviewed_at=FIXED_NOW)
        )
        conn.execute(
            charges.update().where(charges.c.id == pending.id).values(review=None, flags="pattern:test")
        )
    return {
        "rejected": (rejected.id, rejected.billed_cost, rejected.project_id),
        "pending": (pending.id, pending.billed_cost, pending.project_id),
    }


def close(ctx, period: str = "2025-01") -> None:
    from openchargeback.services.periods import change_status

    change_status(ctx, period, "close", "tests", force=True)


def approved_due(ctx, period: str) -> dict[tuple, Decimal]:
    """(pi, project, currency) -> exact amount due of the approved charges, straight from
    the charges table (independently of the statement code)."""
    from openchargeback.storage.tables import charges, periods, sources

    out: dict[tuple, Decimal] = {}
    with ctx.engine.connect() as conn:
        pid = conn.execute(select(periods.c.id).where(periods.c.name == period)).scalar_one()
        basis = dict(conn.execute(select(sources.c.id, sources.c.cost_basis)).all())
        for r in conn.execute(select(charges).where(charges.c.period_id == pid)):
            approved = r.review == "approved" or (r.review is None and r.flags is None)
            if not approved:
                continue
            due = (
                r.effective_cost
                if basis[r.source_id] == "effective" and r.effective_cost is not None
                else r.billed_cost
            )
            key = (r.pi_email, r.project_id, r.billing_currency)
            out[key] = out.get(key, Decimal(0)) + due
    return out


# -- SMTP ---------------------------------------------------------------------------------------
class Recorder:
    """An aiosmtpd handler that records messages and can fail on demand: ``plan`` is a list
    of replies for the next DATA commands (e.g. ["451 4.3.0 try later"]), consumed in order."""

    def __init__(self):
        self.messages: list[dict] = []
        self.plan: list[str] = []
        self.data_calls = 0

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.plan:
            return self.plan.pop(0)
        self.messages.append(
            {
                "from": envelope.mail_from,
                "rcpt": list(envelope.rcpt_tos),
                "message": message_from_bytes(envelope.content, policy=policy.default),
            }
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (openssl), or skip."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("openssl is not available to make a test certificate")
    return cert, key


class FaultServer:
    """The SMTP server of ``smtp_fault_server.py`` in its own process (see there for what
    it can be told to do)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "smtp_fault_server.py"), str(self.port), str(folder)]
        )
        deadline = time.monotonic() + 10
        while not (folder / "ready").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the SMTP fault server did not start")
            time.sleep(0.05)

    def plan(self, *, rcpt: dict | None = None, data: list[str] | None = None) -> None:
        (self.folder / "plan.json").write_text(json.dumps({"rcpt": rcpt or {}, "data": data or []}))

    def received(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.folder / "received").glob("*.json"))]

    def copies(self) -> dict[str, int]:
        """address -> how many messages the server kept for it."""
        out: dict[str, int] = {}
        for r in self.received():
            for a in r["rcpt"]:
                out[a] = out.get(a, 0) + 1
        return out

    def data_started(self) -> list[str]:
        path = self.folder / "data_started"
        return path.read_text().splitlines() if path.exists() else []

    def wait_for(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("the SMTP fault server did not get there in time")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def fault_smtp(tmp_path):
    folder = tmp_path / "smtp"
    folder.mkdir()
    server = FaultServer(folder)
    server.plan()
    yield server
    server.stop()


def fault_email(server: FaultServer, **extra) -> dict:
    """Email settings for ``server`` with the short timeouts of the tests."""
    return {
        "smtp_port": server.port,
        "timeout_seconds": 2,
        "final_reply_timeout_seconds": 1,
        "retries": 2,
        "backoff_seconds": 0,
        **extra,
    }
