"""One send batch per period at a time, across processes and web workers, on SQLite and
PostgreSQL: a row in ``statement_send_locks`` claimed atomically (its primary key), renewed
after each message and deleted at the end.

A lock left by a process that died is taken over when it has expired, or at once when
its process ran on this host and no longer runs. Taking a period's lock also settles
what a dead batch left behind: a message it queued but never started is failed ("not
attempted") and its statements released; a message it was sending is *in doubt* and
keeps its statements until an operator decides (see :mod:`.delivery`)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from openchargeback.domain.errors import Conflict
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.storage import statements as store


@dataclass
class SendBatch:
    token: str
    period_id: int
    period: str
    lease: timedelta
    recovered: tuple[int, ...] = ()  # messages of a dead batch now in doubt
    abandoned: tuple[int, ...] = ()  # messages of a dead batch never started, now failed


def _now() -> datetime:
    return datetime.now(UTC)  # the lock lives in real time, whatever the context's clock


def lease_for(ctx: Context) -> timedelta:
    """Longest time one message may take (every attempt at full timeouts and backoff),
    plus a minute: the lock is renewed after each message."""
    e = ctx.settings.email
    attempts = e.retries + 1
    worst = attempts * (4 * e.timeout_seconds + e.final_reply_timeout_seconds)
    worst += e.backoff_seconds * (2**attempts)
    return timedelta(seconds=worst + 60)


def _alive(host: str, pid: int) -> bool:
    if host != socket.gethostname():
        return True  # cannot tell: wait for the lease
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(row: Any) -> str:
    return (
        f"batch {row.token[:8]} started by {row.actor} at {row.started_at:%Y-%m-%d %H:%M:%S} UTC "
        f"(process {row.pid} on {row.host})"
    )


def acquire(ctx: Context, period_id: int, period: str) -> SendBatch:
    lease = lease_for(ctx)
    batch = SendBatch(uuid.uuid4().hex, period_id, period, lease)
    for _ in range(5):
        now = _now()
        values = {
            "period_id": period_id,
            "token": batch.token,
            "actor": ctx.actor,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now,
            "expires_at": now + lease,
        }
        with ctx.write() as conn:
            took = store.take_lock(conn, values)
            if not took:
                held = store.lock(conn, period_id)
                if held is None:
                    continue  # released meanwhile: try again
                if held.expires_at > now and _alive(held.host, held.pid):
                    raise Conflict(
                        f"the statements of {period} are being sent by another {describe(held)}; "
                        f"wait for it to finish, then send again"
                    )
                took = store.take_lock(conn, values, replacing=held.token)
                if not took:
                    continue
                audit.record_in(
                    conn, ctx, "statements.email.lock_taken_over", period, f"from the dead {describe(held)}"
                )
            _settle_dead_batches(ctx, conn, batch)
        return batch
    raise Conflict(f"could not take the send lock of {period}: other batches keep taking it; try again")


def _settle_dead_batches(ctx: Context, conn: Any, batch: SendBatch) -> None:
    """Messages without an outcome belong to a batch that died (we hold the lock)."""
    recovered: list[int] = []
    abandoned: list[int] = []
    for m in store.unfinished(conn, batch.period_id):
        if m.status == "queued":
            store.finish_message(
                conn,
                m.id,
                status="failed",
                error="not attempted: the batch that queued it stopped before sending it",
                finished_at=_now(),
            )
            store.release(conn, m.id)
            abandoned.append(m.id)
        else:
            store.finish_message(
                conn,
                m.id,
                status="in_doubt",
                error="in doubt: the process sending it stopped before recording an outcome; "
                "the PI may or may not have received it",
                finished_at=_now(),
            )
            recovered.append(m.id)
        audit.record_in(
            conn,
            ctx,
            "statements.email.in_doubt" if m.status != "queued" else "statements.email.failed",
            batch.period,
            f"message {m.id} to {m.pi_email}: left {m.status} by a batch that stopped",
        )
    batch.recovered, batch.abandoned = tuple(recovered), tuple(abandoned)


def renew(ctx: Context, batch: SendBatch) -> None:
    with ctx.write() as conn:
        if not store.renew_lock(conn, batch.period_id, batch.token, _now() + batch.lease):
            taken = f"the send lock of {batch.period} was taken over by another batch (this one was too slow)"
            raise Conflict(
                f"{taken}; stopping: see `openchargeback statements messages -p {batch.period}`",
                web=f"{taken}; stopping: see the email log of {batch.period}",
            )


def release(ctx: Context, batch: SendBatch) -> None:
    with ctx.write() as conn:
        store.release_lock(conn, batch.period_id, batch.token)


@contextmanager
def holding(ctx: Context, period_id: int, period: str) -> Iterator[SendBatch]:
    batch = acquire(ctx, period_id, period)
    try:
        yield batch
    finally:
        release(ctx, batch)
