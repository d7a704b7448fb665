"""The one job runner: a worker claims queued jobs one at a time, runs them, renews their
lease with a heartbeat, and takes up jobs whose worker died.

``openchargeback worker`` runs :meth:`Worker.run_forever` in its main thread; ``serve``
(with ``jobs.serve_runs_worker``) runs one in a thread of its own process. Several
workers on several hosts may share one PostgreSQL database: a claim takes each job once
(see :mod:`openchargeback.storage.jobs`).

A job whose lease has passed and whose worker is gone is *interrupted*. A kind that is
safe to repeat (an import: the file hash guard makes a second run a duplicate or the
same import) is queued again, up to ``jobs.max_attempts`` claims; any other (a send:
its messages may be out, and the email log holds them in doubt) stays interrupted for a
person to decide.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from datetime import timedelta
from typing import Any

from openchargeback.domain.errors import OpenChargebackError
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.services.jobs import queue
from openchargeback.services.jobs.kinds import Failed, Kind, registry
from openchargeback.storage import jobs as repo
from openchargeback.storage.faults import fault_of
from openchargeback.storage.types import AnyRow

log = logging.getLogger("openchargeback.jobs")


class Worker:
    def __init__(
        self,
        ctx: Context,
        *,
        name: str | None = None,
        embedded: bool = False,
        kinds: dict[str, Kind] | None = None,
    ):
        """``embedded``: runs in threads of a process that also queues jobs (``serve``),
        started by :meth:`start` or by the first job queued in this process. ``kinds``:
        what it runs (default: every kind of :func:`.kinds.registry`)."""
        self.ctx = ctx.as_actor("worker")
        self.cfg = ctx.settings.jobs
        self.name = name or f"{queue.HOST}:{os.getpid()}:{secrets.token_hex(3)}"
        self._kinds = kinds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._registered = False
        if embedded:
            queue._local_workers.add(self)

    @property
    def kinds(self) -> dict[str, Kind]:
        if self._kinds is None:
            self._kinds = registry()
        return self._kinds

    # -- life cycle ----------------------------------------------------------------------------
    def register(self) -> None:
        if not self._registered:
            with self.ctx.write() as conn:
                repo.worker_started(conn, self.name, self.ctx.clock())
            self._registered = True
            log.info("worker %s started", self.name)

    def start(self) -> None:
        """Run in background threads of this process (``serve``'s embedded worker)."""
        with self._lock:
            if self._threads or self._stop.is_set():
                return
            self.register()
            self._threads = [
                threading.Thread(target=self._loop, name="ocb-worker", daemon=True),
                threading.Thread(target=self._beat, name="ocb-heartbeat", daemon=True),
            ]
            for t in self._threads:
                t.start()

    def wake(self) -> None:
        self.start()
        self._wake.set()

    def run_forever(self, *, until_idle: bool = False) -> None:
        """Run in the calling thread until :meth:`stop` (the ``worker`` command), or with
        ``until_idle`` until no job is left to run."""
        self.register()
        beat = threading.Thread(target=self._beat, name="ocb-heartbeat", daemon=True)
        beat.start()
        try:
            self._loop(until_idle=until_idle)
        finally:
            self._stop.set()
            beat.join(timeout=5)
            self._stopped()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with ``wait``, let the running one finish first."""
        self.stop()
        queue._local_workers.discard(self)
        if wait:
            for t in self._threads:
                t.join()
        self._stopped()

    def _stopped(self) -> None:
        if self._registered:
            with contextlib.suppress(Exception), self.ctx.write() as conn:  # the database may be gone
                repo.worker_stopped(conn, self.name, self.ctx.clock())
            self._registered = False
            log.info("worker %s stopped", self.name)

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self, *, until_idle: bool = False) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception as exc:  # the database away for a moment: try again later
                fault = fault_of(exc)
                if fault is not None:
                    log.warning("worker %s: looking for jobs failed: %s", self.name, fault.message)
                else:
                    log.exception("worker %s: looking for jobs failed", self.name)
                ran = False
            if not ran and until_idle:
                return
            if not ran:
                self._wake.wait(self.cfg.poll_seconds)
                self._wake.clear()

    def run_once(self) -> bool:
        """Take up jobs whose worker died, then claim and run one queued job; True when
        a job ran."""
        self.sweep()
        now = self.ctx.clock()
        with self.ctx.write() as conn:
            row = repo.claim(conn, self.name, now, now + self._lease())
        if row is None:
            return False
        self._run(row)
        return True

    def _lease(self) -> timedelta:
        return timedelta(seconds=self.cfg.lease_seconds)

    def _run(self, row: AnyRow) -> None:
        kind = self.kinds.get(row.kind)
        params = json.loads(row.params)
        ctx = self.ctx.as_actor(row.actor)
        with self._lock:
            self._running.add(row.id)
        queue.set_live(row.id, 0, None)
        started = time.monotonic()
        status, result, error = "done", None, None
        try:
            if kind is None:
                raise Failed(f"job kind {row.kind!r} is not known to this version of OpenChargeback")
            result = kind.run(ctx, params, lambda done, total: queue.set_live(row.id, done, total))
        except Failed as exc:
            status, error, result = "failed", exc.message, exc.result
        except OpenChargebackError as exc:  # jobs are started from the web and the API
            status, error = "failed", exc.web
        except Exception as exc:  # a fault, not a user mistake: keep the job honest
            fault = fault_of(exc)  # the database's own failure: its one message, as the web says it
            if fault is not None:
                log.warning("job #%s (%s) failed: %s", row.id, row.kind, fault.message)
                status, error = "failed", fault.web
            else:
                log.exception("job #%s (%s) failed", row.id, row.kind)
                status, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._running.discard(row.id)
        done, total = queue.live_of([row.id]).get(row.id, (0, None))
        recorded = False
        try:
            with self.ctx.write() as conn:
                recorded = repo.finish(
                    conn,
                    row.id,
                    self.name,
                    status=status,
                    finished_at=self.ctx.clock(),
                    result=json.dumps(result) if result is not None else None,
                    error=error or row.error,  # a done job keeps the note of an interruption
                    progress=done,
                    progress_total=total,
                    lease_until=None,
                )
                if recorded and kind is not None and kind.finished is not None:
                    kind.finished(conn, ctx, row, status, result, error)
        finally:
            queue.pop_live(row.id)
        seconds = time.monotonic() - started
        log.info(
            "job #%s %s by %s: %s in %.1f s%s",
            row.id,
            row.kind,
            row.actor,
            status if recorded else "taken over (its lease had passed)",
            seconds,
            f": {error}" if error else "",
            extra={
                "job": row.id,
                "kind": row.kind,
                "actor": row.actor,
                "outcome": status,
                "seconds": seconds,
            },
        )
        if recorded and kind is not None and kind.after is not None:
            with contextlib.suppress(Exception):
                kind.after(ctx, params, status)

    # -- heartbeat -----------------------------------------------------------------------------
    def _beat(self) -> None:
        idle_every = max(0.5, min(self.cfg.lease_seconds / 4, 10.0))
        busy_every = min(1.0, idle_every)
        while not self._stop.is_set():
            with self._lock:
                running = set(self._running)
            try:
                now = self.ctx.clock()
                with self.ctx.write() as conn:
                    repo.heartbeat(conn, self.name, now, now + self._lease(), queue.live_of(running))
            except Exception:  # SQLite write-locked by a long import, or the database away
                log.debug("worker %s: heartbeat not written", self.name, exc_info=True)
            self._stop.wait(busy_every if running else idle_every)

    # -- jobs whose worker died ----------------------------------------------------------------
    def sweep(self) -> list[int]:
        """Jobs whose lease passed while their worker is gone: queued again when their
        kind is safe to repeat, else interrupted. Returns their ids."""
        now = self.ctx.clock()
        with self.ctx.read() as conn:
            rows = [r for r in repo.expired(conn, now) if queue.expired(r, now)]
        taken = []
        for row in rows:
            kind = self.kinds.get(row.kind)
            again = kind is not None and kind.repeatable and row.attempts < self.cfg.max_attempts
            when = now.strftime("%Y-%m-%d %H:%M:%S UTC")
            if again:
                note = f"interrupted at {when} (worker {row.worker} stopped); queued again"
                values: dict[str, Any] = {"status": "queued", "worker": None, "lease_until": None}
            else:
                note = (
                    f"interrupted at {when} (worker {row.worker} stopped): "
                    + (kind.interrupted if kind is not None else "unknown kind")
                    + (f" (tried {row.attempts} times)" if kind is not None and kind.repeatable else "")
                )
                values = {"status": "interrupted", "finished_at": now, "lease_until": None}
            with self.ctx.write() as conn:
                if not repo.release(conn, row.id, row.worker, now, error=note, **values):
                    continue
                audit.record_in(conn, self.ctx, "job.interrupted", f"job #{row.id}", f"{row.kind}: {note}")
            taken.append(row.id)
            log.warning("job #%s %s: %s", row.id, row.kind, note)
            if not again and kind is not None and kind.after is not None:
                with contextlib.suppress(Exception):
                    kind.after(self.ctx.as_actor(row.actor), json.loads(row.params), "interrupted")
        return taken
