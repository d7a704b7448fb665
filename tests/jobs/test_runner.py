"""The job runner on SQLite and PostgreSQL: concurrent claimers take each job once; a job
whose worker died is queued again when its kind is repeatable and stays interrupted when
it is not; a live worker on this host keeps its job even when its lease has passed (a
long SQLite import holds the write lock, so its heartbeat may not be written); health()
tells queued jobs without a live worker."""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta

from openchargeback.services import jobs
from openchargeback.services.jobs import queue
from openchargeback.services.jobs.kinds import Kind
from openchargeback.storage import db
from openchargeback.storage import jobs as repo


def _queue(ctx, n: int, kind: str = "test.echo") -> list[int]:
    with ctx.write() as conn:
        return [queue.enqueue_in(conn, ctx, kind, {"n": i}) for i in range(n)]


def test_concurrent_claimers_take_each_job_once(db_url, make_ctx):
    ctx = make_ctx(db_url)
    ids = _queue(ctx, 60)
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(6)

    def claimer(name: str) -> None:
        engine = db.make_engine(db_url)  # a connection pool of its own, as another process has
        mine = claimed.setdefault(name, [])
        start.wait()
        try:
            while True:
                now = ctx.clock()
                with db.unit_of_work(engine, write=True) as conn:
                    row = repo.claim(conn, name, now, now + timedelta(seconds=60))
                if row is None:
                    with db.unit_of_work(engine) as conn:
                        if not conn.execute(repo.jobs.select().where(repo.jobs.c.status == "queued")).first():
                            return
                    continue
                assert row.status == "running" and row.worker == name and row.attempts == 1
                mine.append(row.id)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=claimer, args=(f"host:{i}:t",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    everything = [i for got in claimed.values() for i in got]
    assert sorted(everything) == ids  # each once, none lost
    with ctx.read() as conn:
        rows = repo.recent(conn, 100)
    assert {r.worker for r in rows} == {n for n, got in claimed.items() if got}
    assert all(claimed[r.worker].count(r.id) == 1 for r in rows)


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()  # reaped: the pid names no process now
    return p.pid


def _kinds(calls: list):
    def run(_ctx, params, progress):
        progress(1, 1)
        calls.append(params["n"])
        return {"summary": f"ran {params['n']}"}

    return {
        "test.repeatable": Kind(run, repeatable=True, after=lambda _c, p, s: calls.append(("after", s))),
        "test.once": Kind(
            run,
            repeatable=False,
            interrupted="may have been done; decide",
            after=lambda _c, p, s: calls.append(("after", s)),
        ),
    }


def test_a_dead_workers_jobs_run_again_or_stay_interrupted_by_kind(db_url, make_ctx):
    ctx = make_ctx(db_url, jobs={"lease_seconds": 5, "max_attempts": 2})
    again, once, exhausted = (
        _queue(ctx, 1, "test.repeatable")[0],
        _queue(ctx, 1, "test.once")[0],
        _queue(ctx, 1, "test.repeatable")[0],
    )
    dead = f"{queue.HOST}:{_dead_pid()}:gone"
    past = ctx.clock() - timedelta(minutes=5)
    with ctx.write() as conn:
        for _ in range(3):
            assert repo.claim(conn, dead, past, past + timedelta(seconds=5)) is not None
        repo.set_values(conn, exhausted, attempts=2)  # claimed twice already: the last allowed
    # the page shows them interrupted as soon as the lease has passed
    assert {jobs.get_job.__module__}  # (public API used by the web)
    assert queue.get_job(ctx, again).status == "interrupted"
    assert "stopped before it finished" in queue.get_job(ctx, once).error

    calls: list = []
    worker = jobs.Worker(ctx, kinds=_kinds(calls))
    worker.run_forever(until_idle=True)

    a, o, x = (queue.get_job(ctx, i) for i in (again, once, exhausted))
    assert a.status == "done" and a.attempts == 2 and a.summary == "ran 0" and a.progress == 1
    assert "queued again" in a.error  # the interruption stays on record
    assert o.status == "interrupted" and "may have been done; decide" in o.error and o.attempts == 1
    assert x.status == "interrupted" and "tried 2 times" in x.error
    assert calls.count(0) == 1  # the repeatable job ran once more; the other kind never
    assert sorted(c[1] for c in calls if isinstance(c, tuple)) == ["done", "interrupted", "interrupted"]
    with ctx.read() as conn:
        actions = conn.exec_driver_sql("SELECT detail FROM audit_log WHERE action = 'job.interrupted'").all()
    assert len(actions) == 3


def test_a_live_worker_on_this_host_keeps_its_job_past_the_lease(db_url, make_ctx):
    import os

    ctx = make_ctx(db_url, jobs={"lease_seconds": 2})
    job = _queue(ctx, 1, "test.repeatable")[0]
    alive = f"{queue.HOST}:{os.getpid()}:busy"
    past = ctx.clock() - timedelta(minutes=5)
    with ctx.write() as conn:
        repo.claim(conn, alive, past, past + timedelta(seconds=2))
    calls: list = []
    assert jobs.Worker(ctx, kinds=_kinds(calls)).sweep() == []
    assert queue.get_job(ctx, job).status == "running" and calls == []
    # another host's worker is judged by its lease alone
    with ctx.write() as conn:
        repo.set_values(conn, job, worker="elsewhere.example:123:x")
    assert queue.get_job(ctx, job).status == "interrupted"
    assert jobs.Worker(ctx, kinds=_kinds(calls)).sweep() == [job]


def test_health_tells_queued_jobs_without_a_live_worker(db_url, make_ctx):
    ctx = make_ctx(db_url, jobs={"lease_seconds": 5})
    assert jobs.health(ctx).ready  # nothing queued, no worker needed
    _queue(ctx, 2, "test.repeatable")
    h = jobs.health(ctx)
    assert (h.queued, h.running, h.worker_alive, h.ready) == (2, 0, False, False)
    assert h.by_kind == {("test.repeatable", "queued"): 2} and h.oldest_queued_at is not None

    worker = jobs.Worker(ctx, kinds=_kinds([]))
    worker.register()
    h = jobs.health(ctx)
    assert h.worker_alive and h.ready and h.newest_heartbeat is not None
    assert [w.name for w in h.workers if w.alive] == [worker.name]
    worker.run_forever(until_idle=True)  # runs both, then stops (and says so)
    h = jobs.health(ctx)
    assert (h.queued, h.counts.get("done"), h.worker_alive) == (0, 2, False)
    assert h.workers[0].stopped_at is not None


def test_a_failing_job_records_its_error_and_the_worker_goes_on(db_url, make_ctx):
    from openchargeback.domain.errors import InvalidInput

    ctx = make_ctx(db_url)

    def bad(_ctx, params, _progress):
        if params["n"] == 0:
            raise InvalidInput("period 2025-13 is not a month")
        raise KeyError("boom")

    ids = _queue(ctx, 2, "test.bad") + _queue(ctx, 1, "test.unknown")
    jobs.Worker(ctx, kinds={"test.bad": Kind(bad, repeatable=True)}).run_forever(until_idle=True)
    user, fault, unknown = (queue.get_job(ctx, i) for i in ids)
    assert (user.status, user.error) == ("failed", "period 2025-13 is not a month")
    assert fault.status == "failed" and fault.error.startswith("internal error: KeyError")
    assert unknown.status == "failed" and "not known" in unknown.error
