"""Readiness (``/readyz``): can this process serve? The database answers, its schema is
the one this version needs, and queued jobs have a live worker. Short reasons only: the
probe needs no login, so it says nothing of the data."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from openchargeback.services import jobs
from openchargeback.services.context import Context
from openchargeback.storage import db

log = logging.getLogger("openchargeback.health")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)


def readiness(ctx: Context) -> Readiness:
    try:
        current = db.current_revision(ctx.engine)
    except Exception as exc:  # any driver error: the database cannot be used
        log.warning("readiness: database unreachable: %s", type(exc).__name__, exc_info=True)
        return Readiness((Check("database", False, "unreachable"),))
    checks = [Check("database", True, "reachable")]
    if current == db.HEAD_REVISION:
        checks.append(Check("schema", True, current))
    else:
        checks.append(Check("schema", False, f"at {current}, this version needs {db.HEAD_REVISION}"))
        return Readiness(tuple(checks))
    h = jobs.health(ctx)
    alive = sum(1 for w in h.workers if w.alive)
    if h.ready:
        checks.append(Check("jobs", True, f"{h.queued} queued, {h.running} running, {alive} worker(s) alive"))
    else:
        heard = h.newest_heartbeat.isoformat() if h.newest_heartbeat else "never"
        checks.append(
            Check(
                "jobs",
                False,
                f"{h.queued} queued and no worker heard from within {h.lease_seconds} s (last: {heard})",
            )
        )
    return Readiness(tuple(checks))
