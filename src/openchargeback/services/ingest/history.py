"""Import history: what was imported, its control totals and skipped lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from openchargeback.domain.errors import NotFound
from openchargeback.domain.money import to_str
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.storage import imports as repo


@dataclass(frozen=True)
class ImportSummary:
    id: int
    source: str
    filename: str
    sha256: str
    status: str
    periods: tuple[str, ...]
    rows: int
    skipped: int
    flagged: int
    actor: str
    finished_at: datetime
    replaced_by: int | None

    def as_json(self) -> dict:
        return {"id": self.id, "source": self.source, "file": self.filename, "sha256": self.sha256,
                "status": self.status, "periods": list(self.periods), "rows": self.rows,
                "skipped": self.skipped, "flagged": self.flagged, "actor": self.actor,
                "finished_at": self.finished_at.isoformat(), "replaced_by": self.replaced_by}


@dataclass(frozen=True)
class ImportDetail:
    summary: ImportSummary
    size_bytes: int
    format: str
    focus_version: str
    requested_period: str | None
    rounded_values: int
    columns: dict
    totals: tuple[tuple[str, str, Decimal, Decimal], ...]  # currency, column, file, stored
    problems: tuple[tuple[int, str | None, str | None, str], ...]
    replaced: tuple[tuple[int, str, int], ...]  # imports this one replaced
    replaced_by: tuple[tuple[int, str, int], ...]

    def as_json(self) -> dict:
        return {**self.summary.as_json(), "size_bytes": self.size_bytes, "format": self.format,
                "focus_version": self.focus_version, "requested_period": self.requested_period,
                "rounded_values": self.rounded_values, "columns": self.columns,
                "totals": [{"currency": c, "column": col, "file_total": to_str(f),
                            "stored_total": to_str(s)} for c, col, f, s in self.totals],
                "skipped_lines": [{"line": ln, "column": col, "value": v, "expected": e}
                                  for ln, col, v, e in self.problems],
                "replaced": [{"import_id": i, "period": p, "rows_removed": n}
                             for i, p, n in self.replaced],
                "replaced_by_imports": [{"import_id": i, "period": p, "rows_removed": n}
                                        for i, p, n in self.replaced_by]}


def summary_of(r) -> ImportSummary:
    return ImportSummary(r.id, r.source_name, r.filename, r.sha256, r.status,
                         tuple(p for p in r.periods.split(",") if p), r.row_count, r.skipped_count,
                         r.flagged_count, r.actor, r.finished_at, r.replaced_by_id)


def list_imports(ctx: Context, *, source: str | None = None, period: str | None = None,
                 limit: int = 50) -> list[ImportSummary]:
    with ctx.read() as conn:
        source_id = None
        if source:
            source_id = lookup.source(conn, source).id
        return [summary_of(r) for r in repo.list_recent(conn, source_id=source_id, period=period,
                                                       limit=limit)]


def get_import(ctx: Context, import_id: int) -> ImportDetail:
    with ctx.read() as conn:
        r = repo.get(conn, import_id)
        if r is None:
            raise NotFound(f"import #{import_id} does not exist")
        totals = tuple((t.currency, t.cost_column, t.file_total, t.stored_total)
                       for t in repo.totals(conn, import_id))
        problems = tuple((p.line, p.column_name, p.value, p.expected)
                         for p in repo.problems(conn, import_id))
        reps = repo.replacements(conn, import_id)
        return ImportDetail(
            summary_of(r), r.size_bytes, r.format, r.focus_version, r.requested_period,
            r.rounded_values, json.loads(r.columns), totals, problems,
            tuple((x.replaced_import_id, x.period, x.rows_removed) for x in reps if x.import_id == import_id),
            tuple((x.import_id, x.period, x.rows_removed) for x in reps if x.replaced_import_id == import_id))
