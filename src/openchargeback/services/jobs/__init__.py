"""Background jobs: every task the web starts (imports of uploaded files, statement
generation and sending, journal exports, budget alert checks) is a row that a worker
claims, runs and records, and that any web process shows. :mod:`.runner` is the one
runner (``openchargeback worker``, or ``serve``'s own); :mod:`.kinds` says what each
kind runs and whether it may run again.
"""

from openchargeback.services.jobs.budgets import budget_job, start_budget_check
from openchargeback.services.jobs.imports import (
    TooLarge,
    Upload,
    get_job,
    guess,
    recent_jobs,
    start_import,
)
from openchargeback.services.jobs.journal import journal_job, start_journal_export
from openchargeback.services.jobs.queue import JobsHealth, JobView, WorkerView, health
from openchargeback.services.jobs.runner import Worker
from openchargeback.services.jobs.statements import start_statements, statement_job, statement_jobs

__all__ = [
    "JobView",
    "JobsHealth",
    "TooLarge",
    "Upload",
    "Worker",
    "WorkerView",
    "budget_job",
    "get_job",
    "guess",
    "journal_job",
    "health",
    "recent_jobs",
    "start_budget_check",
    "start_import",
    "start_journal_export",
    "start_statements",
    "statement_job",
    "statement_jobs",
]
