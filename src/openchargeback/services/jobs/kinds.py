"""What a job of each kind runs, and whether it is safe to run again after its worker died.

A kind's ``run`` gets the job's context (acting as the user who queued it), its
arguments and a progress callback, and returns the result to store (JSON); it raises
:class:`Failed` (or any user error) to fail with a message. ``finished`` runs in the
transaction that records the job's end (an audit line); ``after`` runs once the job has
ended for good (an uploaded file removed, the dashboards refreshed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from openchargeback.services.context import Context

Progress = Callable[[int, int | None], None]


class Failed(Exception):
    """The job failed with this message and (optionally) a result to show with it."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.message, self.result = message, result


@dataclass(frozen=True)
class Kind:
    run: Callable[[Context, dict, Progress], dict]
    # Safe to run again from the start when its worker died mid-way (idempotent).
    repeatable: bool
    # Shown on a job of a kind that is not repeated when its worker died.
    interrupted: str = "its worker stopped before it finished; start it again"
    finished: Callable[[Connection, Context, Any, str, dict | None, str | None], None] | None = None
    after: Callable[[Context, dict, str], None] | None = None


def registry() -> dict[str, Kind]:
    """Every kind by name (imported when a worker first needs it)."""
    from openchargeback.services.jobs import budgets, imports, journal, statements

    return {
        "import": imports.KIND,
        "statements.generate": statements.GENERATE,
        "statements.send": statements.SEND,
        "journal.export": journal.EXPORT,
        "budgets.check": budgets.CHECK,
    }
