"""Background jobs: rows any process can queue, claim, follow and finish.

A claim is one statement that the database serialises: on PostgreSQL the oldest queued
row is locked with ``FOR UPDATE SKIP LOCKED`` (concurrent claimers take different rows
and never wait on each other); on SQLite the writing transaction (``BEGIN IMMEDIATE``)
already makes the claimant the only writer, and the UPDATE is guarded by the state it
expects. Every later change of a claimed job is guarded by its worker's name and its
``running`` state, so that a worker that lost its job (declared interrupted after its
lease) cannot overwrite what another decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from openchargeback.storage.auth_tables import job_workers, jobs
from openchargeback.storage.types import AnyRow, inserted_id

ACTIVE = ("queued", "running")


def create(conn: Connection, values: dict[str, Any]) -> int:
    return inserted_id(conn.execute(insert(jobs).values(status="queued", progress=0, attempts=0, **values)))


def get(conn: Connection, job_id: int) -> AnyRow | None:
    return conn.execute(select(jobs).where(jobs.c.id == job_id)).first()


def set_values(conn: Connection, job_id: int, **values: Any) -> None:
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def recent(
    conn: Connection, limit: int = 20, *, kinds: Sequence[str] | None = None, period: str | None = None
) -> Sequence[AnyRow]:
    q = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if kinds is not None:
        q = q.where(jobs.c.kind.in_(kinds))
    if period is not None:
        q = q.where(jobs.c.period == period)
    return conn.execute(q).all()


def claim(conn: Connection, worker: str, now: datetime, lease_until: datetime) -> AnyRow | None:
    """The oldest queued job, now running for ``worker``; None when there is none."""
    pick = select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.id).limit(1)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    job_id = conn.execute(pick).scalar()
    if job_id is None:
        return None
    done = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == "queued")
        .values(
            status="running",
            worker=worker,
            started_at=now,
            lease_until=lease_until,
            attempts=jobs.c.attempts + 1,
        )
    )
    return get(conn, job_id) if done.rowcount == 1 else None


def _mine(job_id: int, worker: str) -> Any:
    return and_(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.status == "running")


def heartbeat(
    conn: Connection,
    worker: str,
    now: datetime,
    lease_until: datetime,
    progress: dict[int, tuple[int, int | None]],
) -> None:
    """The worker is alive: its row's heartbeat, its running jobs' lease and progress."""
    conn.execute(update(job_workers).where(job_workers.c.name == worker).values(heartbeat_at=now))
    conn.execute(
        update(jobs)
        .where(jobs.c.worker == worker, jobs.c.status == "running")
        .values(lease_until=lease_until)
    )
    for job_id, (done, total) in progress.items():
        conn.execute(update(jobs).where(_mine(job_id, worker)).values(progress=done, progress_total=total))


def finish(conn: Connection, job_id: int, worker: str, **values: Any) -> bool:
    """Record a claimed job's end; False when the job is no longer this worker's."""
    return conn.execute(update(jobs).where(_mine(job_id, worker)).values(**values)).rowcount == 1


def expired(conn: Connection, now: datetime) -> Sequence[AnyRow]:
    """Running jobs whose lease has passed."""
    return conn.execute(
        select(jobs).where(jobs.c.status == "running", jobs.c.lease_until < now).order_by(jobs.c.id)
    ).all()


def release(conn: Connection, job_id: int, holder: str, now: datetime, **values: Any) -> bool:
    """Take an expired job from its (dead) worker: guarded by the worker and the lease,
    so two sweepers, or a worker whose heartbeat came back, cannot both act on it."""
    return (
        conn.execute(
            update(jobs).where(_mine(job_id, holder), jobs.c.lease_until < now).values(**values)
        ).rowcount
        == 1
    )


def counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Jobs per (kind, status)."""
    rows = conn.execute(select(jobs.c.kind, jobs.c.status, func.count()).group_by(jobs.c.kind, jobs.c.status))
    return {(k, s): int(n) for k, s, n in rows}


def oldest_queued_at(conn: Connection) -> datetime | None:
    return conn.execute(select(func.min(jobs.c.created_at)).where(jobs.c.status == "queued")).scalar()


# -- workers ---------------------------------------------------------------------------------------


def worker_started(conn: Connection, name: str, now: datetime) -> None:
    conn.execute(insert(job_workers).values(name=name, started_at=now, heartbeat_at=now))


def worker_stopped(conn: Connection, name: str, now: datetime) -> None:
    conn.execute(update(job_workers).where(job_workers.c.name == name).values(stopped_at=now))


def workers(conn: Connection, limit: int = 50) -> Sequence[AnyRow]:
    """Workers, the most recently heard from first."""
    return conn.execute(select(job_workers).order_by(job_workers.c.heartbeat_at.desc()).limit(limit)).all()


def forget_workers(conn: Connection, before: datetime) -> None:
    """Drop the rows of workers that stopped (or went silent) before ``before``."""
    conn.execute(job_workers.delete().where(job_workers.c.heartbeat_at < before))
