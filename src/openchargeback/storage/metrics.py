"""What the metrics read from the database: imports, jobs and email messages, counted
where every process and host sees the same numbers; and a hook on driver errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.engine import ExceptionContext

from openchargeback.storage.auth_tables import jobs
from openchargeback.storage.statement_tables import statement_messages
from openchargeback.storage.tables import imports, sources
from openchargeback.storage.types import AnyRow


def imports_done(conn: Connection) -> Sequence[AnyRow]:
    """Every stored import (complete or since replaced): source, rows, start and end."""
    return conn.execute(
        select(
            sources.c.name.label("source"), imports.c.row_count, imports.c.started_at, imports.c.finished_at
        )
        .join(sources, sources.c.id == imports.c.source_id)
        .where(imports.c.status != "loading")
    ).all()


def jobs_finished(conn: Connection) -> Sequence[AnyRow]:
    """Kind, status, start and end of every job that ran to an end."""
    return conn.execute(
        select(jobs.c.kind, jobs.c.status, jobs.c.started_at, jobs.c.finished_at).where(
            jobs.c.started_at.is_not(None), jobs.c.finished_at.is_not(None)
        )
    ).all()


def message_counts(conn: Connection) -> dict[str, int]:
    """Email messages by status."""
    rows = conn.execute(
        select(statement_messages.c.status, func.count()).group_by(statement_messages.c.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


def on_driver_error(engine: Engine, callback: Callable[[str], None]) -> None:
    """``callback(error class name)`` for every error the database driver raises."""

    @event.listens_for(engine, "handle_error")
    def seen(context: ExceptionContext) -> None:
        callback(type(context.original_exception).__name__)
