"""Generating and sending a period's statements as jobs (the web's buttons), with progress.

The work itself is the ordinary services, so it commits, logs and audits exactly as
from the CLI. Generation is safe to repeat (an unchanged statement stays as it is); a
send is not: when its worker dies mid-way its messages may be out, and the email log
holds them in doubt for a person to decide (see services/statements/delivery.py).
"""

from __future__ import annotations

from openchargeback.domain.periods import Period, PeriodStatus
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.jobs import queue
from openchargeback.services.jobs.kinds import Kind, Progress
from openchargeback.services.jobs.queue import JobView
from openchargeback.services.statements.delivery import send_period
from openchargeback.services.statements.generation import generate, refuse_open

KINDS = ("statements.generate", "statements.send")


def start_statements(ctx: Context, what: str, period: str, **options) -> JobView:
    """Queue ``generate`` or ``send`` of a period; returns the job. Generating an open
    period is refused here, not by a job that could only fail."""
    name = Period.parse(period).name
    with ctx.write() as conn:
        status = PeriodStatus(lookup.period(conn, name).status)
        if what == "generate":
            refuse_open(name, status)
        job_id = queue.enqueue_in(conn, ctx, f"statements.{what}", {"period": name, **options}, period=name)
    queue.wake_local_workers(ctx)
    return queue.get_job(ctx, job_id)


def statement_job(ctx: Context, job_id: int) -> JobView:
    return queue.get_job(ctx, job_id, kinds=KINDS)


def statement_jobs(ctx: Context, period: str, limit: int = 5) -> list[JobView]:
    return queue.recent_jobs(ctx, limit, kinds=KINDS, period=period)


def _generate(ctx: Context, params: dict, progress: Progress) -> dict:
    r = generate(ctx, params["period"], progress=progress)
    made = r.count("new") + r.count("new_version")
    return {
        "summary": f"{len(r.statements)} statement(s): {made} new or new versions, "
        f"{r.count('unchanged')} unchanged, {r.count('withdrawn')} withdrawn; "
        f"excluded {r.pending.count} pending and {r.rejected.count} rejected charge(s)"
    }


def _send(ctx: Context, params: dict, progress: Progress) -> dict:
    d = send_period(
        ctx,
        params["period"],
        pi=params.get("pi"),
        project=params.get("project"),
        resend=params.get("resend", False),
        progress=progress,
    )
    return {
        "summary": f"{d.sent} message(s) sent, {d.failed} failed"
        + (f", {d.in_doubt} in doubt" if d.in_doubt else "")
        + (f"; {d.skipped_sent} statement(s) already sent" if d.skipped_sent else "")
    }


GENERATE = Kind(_generate, repeatable=True)
SEND = Kind(
    _send,
    repeatable=False,
    interrupted="messages it was sending may be in doubt: see the email log, where each is "
    "marked, and decide them there before sending again",
)
