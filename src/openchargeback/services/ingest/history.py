"""Import history: what was imported, its control totals and skipped lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from openchargeback.domain.errors import NotFound
from openchargeback.domain.jsonable import JSON, Jsonable, to_json
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.storage import imports as repo

REPLACED = ("import_id", "period", "rows_removed")


def named_rows(keys: tuple[str, ...], rows: Iterable[tuple]) -> list[dict]:
    """Row tuples (which the CLI and the web unpack) as JSON objects with these keys."""
    return [dict(zip(keys, r, strict=True)) for r in to_json(rows)]


@dataclass(frozen=True)
class ImportSummary(Jsonable):
    id: int
    source: str
    filename: str = field(metadata={JSON: "file"})
    sha256: str
    status: str
    periods: tuple[str, ...]
    rows: int
    skipped: int
    flagged: int
    actor: str
    finished_at: datetime
    replaced_by: int | None


@dataclass(frozen=True)
class ImportDetail(Jsonable):
    summary: ImportSummary = field(metadata={JSON: None})
    size_bytes: int
    format: str
    focus_version: str
    requested_period: str | None
    rounded_values: int
    columns: dict
    totals: tuple[tuple[str, str, Decimal, Decimal], ...]  # currency, column, file, stored
    problems: tuple[tuple[int, str | None, str | None, str], ...] = field(metadata={JSON: "skipped_lines"})
    replaced: tuple[tuple[int, str, int], ...]  # imports this one replaced
    replaced_by: tuple[tuple[int, str, int], ...] = field(metadata={JSON: "replaced_by_imports"})
    appended: bool = False  # --append: identical rows to an earlier import's are new rows
    source_ok: bool = False  # --source-ok: the source guard was overruled

    def as_json(self) -> dict:
        # the summary's keys are flattened in; the row tuples get their keys
        return {
            **self.summary.as_json(),
            **to_json(self),
            "totals": named_rows(("currency", "column", "file_total", "stored_total"), self.totals),
            "skipped_lines": named_rows(("line", "column", "value", "expected"), self.problems),
            "replaced": named_rows(REPLACED, self.replaced),
            "replaced_by_imports": named_rows(REPLACED, self.replaced_by),
        }


def summary_of(r) -> ImportSummary:
    return ImportSummary(
        r.id,
        r.source_name,
        r.filename,
        r.sha256,
        r.status,
        tuple(p for p in r.periods.split(",") if p),
        r.row_count,
        r.skipped_count,
        r.flagged_count,
        r.actor,
        r.finished_at,
        r.replaced_by_id,
    )


def list_imports(
    ctx: Context, *, source: str | None = None, period: str | None = None, limit: int = 50
) -> list[ImportSummary]:
    with ctx.read() as conn:
        source_id = None
        if source:
            source_id = lookup.source(conn, source).id
        return [
            summary_of(r) for r in repo.list_recent(conn, source_id=source_id, period=period, limit=limit)
        ]


def get_import(ctx: Context, import_id: int) -> ImportDetail:
    with ctx.read() as conn:
        r = repo.get(conn, import_id)
        if r is None:
            raise NotFound(f"import #{import_id} does not exist")
        totals = tuple(
            (t.currency, t.cost_column, t.file_total, t.stored_total) for t in repo.totals(conn, import_id)
        )
        problems = tuple((p.line, p.column_name, p.value, p.expected) for p in repo.problems(conn, import_id))
        reps = repo.replacements(conn, import_id)
        return ImportDetail(
            summary_of(r),
            r.size_bytes,
            r.format,
            r.focus_version,
            r.requested_period,
            r.rounded_values,
            json.loads(r.columns),
            totals,
            problems,
            tuple((x.replaced_import_id, x.period, x.rows_removed) for x in reps if x.import_id == import_id),
            tuple((x.import_id, x.period, x.rows_removed) for x in reps if x.replaced_import_id == import_id),
            bool(r.appended),
            bool(r.source_ok),
        )
