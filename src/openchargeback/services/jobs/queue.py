"""Jobs as rows: queue one, follow one, and the queue's health.

Any process reads a job's state from the database, so any web worker shows any job's
progress. The process that runs a job also keeps its latest progress in memory
(:data:`_live`): a worker writes it to the row with each heartbeat, but on SQLite a long
import holds the database's write lock, so there only the running process sees its
rows counted before the import commits.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from openchargeback.domain.errors import NotFound
from openchargeback.services.context import Context
from openchargeback.storage import jobs as repo
from openchargeback.storage.types import AnyRow

if TYPE_CHECKING:
    from collections.abc import Iterable

FINISHED = ("done", "failed", "interrupted")
HOST = socket.gethostname()[:60]

# job id -> (done, total) of the jobs this process runs
_live: dict[int, tuple[int, int | None]] = {}
_live_lock = threading.Lock()
# the workers embedded in this process (`serve`'s): a job queued here starts at once
_local_workers: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    status: str  # queued | running | done | failed | interrupted
    actor: str
    params: dict
    filename: str | None
    size_bytes: int | None
    progress: int
    total: int | None
    result: dict | None
    error: str | None
    import_id: int | None
    period: str | None
    attempts: int
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def rows_read(self) -> int:
        return self.progress

    @property
    def percent(self) -> int:
        if self.total:
            return int(100 * self.progress / self.total)
        return 100 if self.finished else 0

    @property
    def summary(self) -> str | None:
        return (self.result or {}).get("summary")


@dataclass(frozen=True)
class WorkerView:
    name: str
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool  # heard from within the lease and not stopped


@dataclass(frozen=True)
class JobsHealth:
    """What /readyz and the metrics need: counts per state (and per kind), the workers."""

    counts: dict[str, int]  # status -> jobs
    by_kind: dict[tuple[str, str], int]  # (kind, status) -> jobs
    oldest_queued_at: datetime | None
    newest_heartbeat: datetime | None
    workers: tuple[WorkerView, ...]
    lease_seconds: int

    @property
    def queued(self) -> int:
        return self.counts.get("queued", 0)

    @property
    def running(self) -> int:
        return self.counts.get("running", 0)

    @property
    def worker_alive(self) -> bool:
        return any(w.alive for w in self.workers)

    @property
    def ready(self) -> bool:
        """False when jobs wait and no worker has been heard from within the lease."""
        return self.queued == 0 or self.worker_alive


def enqueue_in(
    conn: Connection,
    ctx: Context,
    kind: str,
    params: dict[str, Any],
    *,
    period: str | None = None,
    filename: str | None = None,
    size_bytes: int | None = None,
) -> int:
    """Queue a job in the caller's transaction; a worker of this process is woken when
    it commits (the others find it by polling)."""
    job_id = repo.create(
        conn,
        {
            "kind": kind,
            "actor": ctx.actor,
            "params": json.dumps(params),
            "period": period,
            "filename": filename,
            "size_bytes": size_bytes,
            "created_at": ctx.clock(),
        },
    )
    return job_id


def wake_local_workers(ctx: Context) -> None:
    url = str(ctx.engine.url)
    for worker in list(_local_workers):
        if str(worker.ctx.engine.url) == url:
            worker.wake()


def get_job(ctx: Context, job_id: int, kinds: Iterable[str] | None = None) -> JobView:
    with ctx.read() as conn:
        row = repo.get(conn, job_id)
    if row is None or (kinds is not None and row.kind not in kinds):
        raise NotFound(f"job #{job_id} does not exist")
    return view(row, ctx.clock(), ctx.settings.jobs.lease_seconds)


def recent_jobs(
    ctx: Context, limit: int = 10, *, kinds: Iterable[str] | None = None, period: str | None = None
) -> list[JobView]:
    with ctx.read() as conn:
        rows = repo.recent(conn, limit, kinds=list(kinds) if kinds is not None else None, period=period)
    now = ctx.clock()
    return [view(r, now, ctx.settings.jobs.lease_seconds) for r in rows]


def health(ctx: Context) -> JobsHealth:
    lease = ctx.settings.jobs.lease_seconds
    now = ctx.clock()
    with ctx.read() as conn:
        by_kind = repo.counts(conn)
        oldest = repo.oldest_queued_at(conn)
        rows = repo.workers(conn)
    counts: dict[str, int] = {}
    for (_kind, status), n in by_kind.items():
        counts[status] = counts.get(status, 0) + n
    workers = tuple(
        WorkerView(
            w.name,
            w.started_at,
            w.heartbeat_at,
            w.stopped_at,
            w.stopped_at is None
            and now - w.heartbeat_at <= timedelta(seconds=lease)
            and not worker_gone(w.name),
        )
        for w in rows
    )
    newest = max((w.heartbeat_at for w in workers), default=None)
    return JobsHealth(counts, by_kind, oldest, newest, workers, lease)


def worker_gone(name: str | None) -> bool:
    """True when the worker ran on this host and its process no longer exists; False
    when it is alive or runs elsewhere (then its lease alone tells)."""
    if not name:
        return True
    parts = name.split(":")
    if len(parts) < 2 or parts[0] != HOST or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: alive
        return False
    return False


def expired(row: AnyRow, now: datetime) -> bool:
    """A running job whose lease has passed and whose worker is not known to be alive.

    On this host a live process keeps its jobs (a long SQLite import holds the write lock,
    so its heartbeat may not reach the database); elsewhere the lease decides."""
    if row.status != "running" or row.lease_until is None or row.lease_until >= now:
        return False
    return worker_gone(row.worker) or not row.worker.startswith(HOST + ":")


def view(row: AnyRow, now: datetime, lease_seconds: int) -> JobView:
    status, error, progress, total = row.status, row.error, row.progress, row.progress_total
    with _live_lock:
        live = _live.get(row.id)
    if live is not None and status == "running":
        progress, total = live
    if expired(row, now):
        status, error = "interrupted", f"its worker ({row.worker}) stopped before it finished"
    return JobView(
        row.id,
        row.kind,
        status,
        row.actor,
        json.loads(row.params),
        row.filename,
        row.size_bytes,
        progress,
        total,
        json.loads(row.result) if row.result else None,
        error,
        row.import_id,
        row.period,
        row.attempts,
        row.worker,
        row.created_at,
        row.started_at,
        row.finished_at,
    )


def set_live(job_id: int, done: int, total: int | None) -> None:
    with _live_lock:
        _live[job_id] = (done, total)


def pop_live(job_id: int) -> None:
    with _live_lock:
        _live.pop(job_id, None)


def live_of(job_ids: Iterable[int]) -> dict[int, tuple[int, int | None]]:
    with _live_lock:
        return {i: _live[i] for i in job_ids if i in _live}
