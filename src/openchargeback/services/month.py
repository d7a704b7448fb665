"""The month's checklist: where a period stands in the monthly workflow (import, review,
close, statements, journal, finalize), each step's state with the reason it cannot be
done yet, and the next step. One read transaction; every count and sum is done in SQL
(the charge rollup for the totals, brought up to date first)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from openchargeback.domain.periods import Period, PeriodStatus
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.insights import refresh
from openchargeback.storage import aggregates as agg
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import imports as imports_repo
from openchargeback.storage import journal as journal_repo
from openchargeback.storage import statements as statements_repo

DONE, TODO, BLOCKED = "done", "todo", "blocked"
STEPS = ("import", "review", "close", "statements", "journal", "finalize")


@dataclass(frozen=True)
class Step:
    key: str  # one of STEPS
    state: str  # done | todo | blocked (cannot be done yet: ``reason`` says why)
    reason: str | None = None


@dataclass(frozen=True)
class Month:
    period: str
    status: str
    files: int  # complete imports holding rows of the period
    rows: int
    billed: tuple[tuple[str, Decimal], ...]  # per currency, every charge but the rejected
    pending: int  # charges waiting for review
    at_stake: Decimal  # their billed total
    statements: int  # current versions
    sent: int
    failed: int  # messages that did not reach everyone and were not resent
    exports: int  # journal exports of any kind
    posted: int  # exports for posting (not drafts, with postings)
    steps: tuple[Step, ...]

    @property
    def unsent(self) -> int:
        return self.statements - self.sent

    @property
    def next(self) -> Step | None:
        """The first step not done (None: the month is finished)."""
        return next((s for s in self.steps if s.state != DONE), None)

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)


def checklist(ctx: Context, period: str) -> Month:
    name = Period.parse(period).name
    with ctx.read() as conn:
        pid = lookup.period(conn, name).id
    refresh(ctx, [pid])
    with ctx.read() as conn:
        row = lookup.period(conn, name)
        totals = agg.grouped(
            conn, period_ids=[row.id], by=("currency",), filters={"review": agg.BILLABLE}, order="group"
        )
        pending, at_stake = charges_repo.stakes(conn, charges_repo.ChargeFilter(row.id, status="pending"))
        current, sent, failed = statements_repo.tally(conn, row.id)
        exports, posted = journal_repo.tally(conn, row.id)
        files = imports_repo.period_files(conn, name)
    status = PeriodStatus(row.status)
    return Month(
        name,
        status.value,
        files,
        sum(t["rows"] for t in totals),
        tuple((t["currency"], t["billed"]) for t in totals),
        pending,
        at_stake,
        current,
        sent,
        failed,
        exports,
        posted,
        _steps(status, files, pending, current, sent, failed, posted),
    )


def _steps(
    status: PeriodStatus, files: int, pending: int, current: int, sent: int, failed: int, posted: int
) -> tuple[Step, ...]:
    closed = status != PeriodStatus.OPEN
    still_open = None if closed else "the period is still open; it is closed once review is done"
    waiting = f"{pending} charge{'' if pending == 1 else 's'} still wait for review" if pending else None
    return (
        _step("import", files > 0 or closed),
        _step(
            "review",
            pending == 0 and (files > 0 or closed),
            None if files or closed else "nothing imported yet",
        ),
        _step("close", closed, waiting),
        _step("statements", current > 0 and sent == current and not failed, still_open),
        _step("journal", posted > 0, still_open),
        _step("finalize", status == PeriodStatus.FINALIZED, still_open),
    )


def _step(key: str, done: bool, blocked: str | None = None) -> Step:
    return Step(key, DONE if done else BLOCKED if blocked else TODO, None if done else blocked)
