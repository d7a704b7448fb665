"""Tables of the web application: users, server-side sessions, the audit log, login
throttling, background jobs, and the per-period charge rollup that
keeps dashboards fast on millions of rows. Defined on ``tables.metadata`` and
imported by :mod:`openchargeback.storage.schema`."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from openchargeback.storage.tables import metadata
from openchargeback.storage.types import UTCDateTime

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),  # stored lower-case
    Column("password_hash", String(300), nullable=False),
    Column("role", String(16), nullable=False),  # admin | reviewer | viewer
    Column("disabled", Boolean, nullable=False),
    Column("from_config", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # HMAC of the cookie value
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("ip", String(64)),
    Column("user_agent", String(300)),
    Column("period", String(7)),  # the period picked in the top bar
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(300)),
    Column("detail", Text),
    Column("ip", String(64)),
    Index("ix_audit_log_action", "action"),
)

# Login throttling, one row per user name ("user:alice") and per client address
# ("ip:192.0.2.7"): real failures in the current window and the time before which no
# attempt is evaluated. An attempt claims the row (next_at moved ahead while its
# password is checked) with a conditional UPDATE, so concurrent guesses cannot slip
# through together; refused attempts change nothing.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime),
    Column("next_at", UTCDateTime, nullable=False),
    Index("ix_login_throttle_last_failure_at", "last_failure_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),  # import | statements.generate | ...
    # queued | running | done | failed | interrupted (its worker died; see services/jobs)
    Column("status", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("params", Text, nullable=False),  # JSON: the kind's arguments
    Column("filename", String(500)),
    Column("size_bytes", BigInteger),
    Column("progress", Integer, nullable=False),  # rows read, statements made, ...
    Column("result", Text),  # JSON
    Column("error", Text),
    Column("import_id", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("worker", String(100)),  # the job_workers.name that claimed it
    Column("progress_total", Integer),  # None: unknown
    Column("period", String(7)),  # the billing period it works on, when it has one
    Column("attempts", Integer, nullable=False, server_default="0"),  # claims so far
    # A running job whose lease has passed and whose worker is gone is interrupted.
    Column("lease_until", UTCDateTime),
    Index("ix_jobs_status_id", "status", "id"),
)

# Processes that run jobs (`openchargeback worker`, or `serve`'s own), with their
# heartbeat: /readyz and the job pages tell a dead worker from a busy one by it.
job_workers = Table(
    "job_workers",
    metadata,
    Column("name", String(100), primary_key=True),  # host:pid:random
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
)

# Sums per period and attribution, rebuilt from the charges when a period's imports
# change (see storage/rollups.py). Money as two exact integer halves of the picounit
# sums: millionths (hi) and remainders (lo), so that SUM never overflows.
charge_rollups = Table(
    "charge_rollups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period_id", ForeignKey("periods.id"), nullable=False),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("billing_currency", String(16), nullable=False),
    Column("pi_email", String(320)),
    Column("project_id", String(200)),
    Column("fund_org", String(200)),
    Column("service_name", String(300)),
    Column("flagged", Boolean, nullable=False),
    Column("review", String(16)),  # the charges' review decision: NULL, approved, rejected
    Column("rows", BigInteger, nullable=False),
    *[
        Column(f"{c}_{h}", BigInteger, nullable=False)
        for c in ("billed", "effective", "list", "contracted")
        for h in ("hi", "lo")
    ],
    Index("ix_charge_rollups_period", "period_id"),
)

rollup_state = Table(
    "rollup_state",
    metadata,
    Column("period_id", ForeignKey("periods.id"), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("built_at", UTCDateTime, nullable=False),
)

__all__ = [
    "audit_log",
    "charge_rollups",
    "job_workers",
    "jobs",
    "login_throttle",
    "rollup_state",
    "sessions",
    "users",
]
