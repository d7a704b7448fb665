"""Readiness (``/readyz``): can this process serve? The database answers, its schema is
the one this version needs, and queued jobs have a live worker. Short reasons only: the
probe needs no login, so it says nothing of the data.

:func:`activity` is what the metrics read from the database (the same for every process
and host): imports, jobs, email messages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from openchargeback.services import jobs
from openchargeback.services.context import Context
from openchargeback.storage import db
from openchargeback.storage import metrics as repo

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


@dataclass(frozen=True)
class Activity:
    imports: tuple[tuple[str, int, float], ...]  # (source, rows, seconds) of each stored import
    jobs: jobs.JobsHealth
    job_runs: tuple[tuple[str, str, float], ...]  # (kind, status, seconds) of each ended job
    messages: dict[str, int]  # email messages by status


def _seconds(start: datetime | None, end: datetime | None) -> float:
    return max(0.0, (end - start).total_seconds()) if start and end else 0.0


def activity(ctx: Context) -> Activity:
    with ctx.read() as conn:
        done = repo.imports_done(conn)
        runs = repo.jobs_finished(conn)
        messages = repo.message_counts(conn)
    return Activity(
        tuple((r.source, int(r.row_count), _seconds(r.started_at, r.finished_at)) for r in done),
        jobs.health(ctx),
        tuple((r.kind, r.status, _seconds(r.started_at, r.finished_at)) for r in runs),
        messages,
    )


def watch_driver_errors(ctx: Context, callback: Callable[[str], None]) -> None:
    """``callback(error class name)`` for each error the database driver raises here."""
    repo.on_driver_error(ctx.engine, callback)
