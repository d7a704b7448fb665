"""Generating and sending statements in the background (the web), with progress.

One worker thread per process runs these jobs one at a time; their progress and result
are kept in memory by that process (a page polls them). The work itself is the ordinary
services, so it commits, logs and audits exactly as from the CLI."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

from openchargeback.domain.errors import NotFound, OpenChargebackError
from openchargeback.services.context import Context
from openchargeback.services.statements.delivery import send_period
from openchargeback.services.statements.generation import generate


@dataclass(frozen=True)
class StatementJob:
    id: int
    kind: str  # generate | send
    period: str
    actor: str
    started_at: datetime
    status: str = "running"  # running | done | failed
    done: int = 0
    total: int = 0
    summary: str | None = None
    error: str | None = None
    options: dict = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if self.finished else 0)


class StatementRunner:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocb-statements")
        self._jobs: dict[int, StatementJob] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def _update(self, job_id: int, **changes) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def get(self, job_id: int) -> StatementJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"statement job {job_id} is not known to this server process")
        return job

    def recent(self, period: str | None = None, limit: int = 5) -> list[StatementJob]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if period is None or j.period == period]
        return sorted(jobs, key=lambda j: -j.id)[:limit]

    def start(self, ctx: Context, kind: str, period: str, **options) -> StatementJob:
        job = StatementJob(next(self._ids), kind, period, ctx.actor, ctx.clock(), options=options)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, ctx, job)
        return job

    def _run(self, ctx: Context, job: StatementJob) -> None:
        def progress(done: int, total: int) -> None:
            self._update(job.id, done=done, total=total)

        try:
            if job.kind == "generate":
                r = generate(ctx, job.period, progress=progress, **job.options)
                made = r.count("new") + r.count("new_version")
                summary = (
                    f"{len(r.statements)} statement(s): {made} new or new versions, "
                    f"{r.count('unchanged')} unchanged, {r.count('withdrawn')} withdrawn; "
                    f"excluded {r.pending.count} pending and {r.rejected.count} rejected charge(s)"
                )
            else:
                d = send_period(ctx, job.period, progress=progress, **job.options)
                summary = f"{d.sent} message(s) sent, {d.failed} failed" + (
                    f"; {d.skipped_sent} statement(s) already sent" if d.skipped_sent else ""
                )
            self._update(job.id, status="done", summary=summary)
        except OpenChargebackError as exc:
            self._update(job.id, status="failed", error=exc.message)
        except Exception as exc:  # noqa: BLE001 - shown on the page, not lost in a thread
            self._update(job.id, status="failed", error=f"{type(exc).__name__}: {exc}")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
