"""Budget alert checks as jobs (the budgets page's button): raise the alerts newly
crossed in a period's spans and, with ``budgets.email_alerts``, email those not sent.

Safe to repeat when its worker died: an alert is a row unique per budget, span and
threshold, so a second run raises nothing twice; an alert is marked sent in the
transaction that sends it, so only a message whose sending was cut between the mail
server's acceptance and that commit can go out twice.
"""

from __future__ import annotations

from openchargeback.domain.periods import Period
from openchargeback.services.context import Context
from openchargeback.services.jobs import queue
from openchargeback.services.jobs.kinds import Kind, Progress
from openchargeback.services.jobs.queue import JobView
from openchargeback.services.registry.budgets import check_and_send

KINDS = ("budgets.check",)


def start_budget_check(ctx: Context, period: str | None = None) -> JobView:
    """Queue a check of the span containing ``period`` (default: the latest period)."""
    name = Period.parse(period).name if period else None
    with ctx.write() as conn:
        job_id = queue.enqueue_in(conn, ctx, "budgets.check", {"period": name}, period=name)
    queue.wake_local_workers(ctx)
    return queue.get_job(ctx, job_id)


def budget_job(ctx: Context, job_id: int) -> JobView:
    return queue.get_job(ctx, job_id, kinds=KINDS)


def _check(ctx: Context, params: dict, progress: Progress) -> dict:
    r = check_and_send(ctx, params.get("period"))
    return {
        "raised": [a.id for a in r.raised],
        "summary": f"{len(r.raised)} new alert(s) for {r.period or 'no period'}"
        + (f", {r.notified} emailed" if r.notified else "")
        + (f", {r.unsent} waiting to be emailed" if r.unsent else "")
        + "".join(f"; not sent: {f}" for f in r.failed),
    }


CHECK = Kind(_check, repeatable=True)
