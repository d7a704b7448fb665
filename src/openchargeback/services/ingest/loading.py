"""Import one FOCUS file into the ledger: one file, one transaction.

The file lands whole or not at all. The same file (by SHA-256) is never imported
twice; ``replace`` swaps the source's earlier rows of the same periods; bad rows
refuse the file unless ``skip_invalid`` records them on the import instead. The
sum of each cost column read from the file is checked against what was stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import replace as replace_fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from openchargeback.domain.attribution import TagMapping
from openchargeback.domain.errors import FileRefused, InvalidInput
from openchargeback.domain.jsonable import JSON, Jsonable, to_json
from openchargeback.domain.money import from_picos
from openchargeback.domain.periods import Period, PeriodStatus, ensure_writable, name_containing
from openchargeback.domain.review import Evaluator
from openchargeback.focus.batch import Batch
from openchargeback.focus.columns import MONEY_COLUMNS
from openchargeback.focus.prefetch import prefetch
from openchargeback.focus.reader import FocusFile, NeedsExactReader
from openchargeback.focus.scan import Limits
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.ingest import guards
from openchargeback.services.ingest.flagging import AttributionRules, RowFlagger
from openchargeback.services.ingest.history import REPLACED, named_rows
from openchargeback.services.registry import budgets
from openchargeback.services.registry import records as registry_svc
from openchargeback.services.review.carryover import carry_over
from openchargeback.services.review.patterns import compile_pattern
from openchargeback.services.review.rules import apply_growth_rule, current_rules
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import imports as imports_repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import review as review_repo
from openchargeback.storage import sources as sources_repo
from openchargeback.storage import staging, writers
from openchargeback.storage.tables import charges as charges_table

SHOWN_PROBLEMS = 20
_PROVIDER = staging.DETAIL_STORAGE_COLUMNS.index("provider_name")
_ACCOUNT = staging.DETAIL_STORAGE_COLUMNS.index("billing_account_id")
ANALYZE_ROWS = 50_000  # imports at least this large refresh PostgreSQL's statistics
Progress = Callable[[int, int], None]  # (rows read so far, file size in bytes)


@dataclass(frozen=True)
class ColumnTotal:
    currency: str
    column: str
    file_total: Decimal
    stored_total: Decimal


@dataclass(frozen=True)
class IngestResult(Jsonable):
    status: str  # imported | duplicate | dry-run
    filename: str = field(metadata={JSON: "file"})
    source: str
    sha256: str
    focus_version: str
    import_id: int | None = None
    duplicate_of: int | None = None
    rows: int = 0
    skipped: int = 0
    flagged: int = 0
    rounded_values: int = 0
    periods: dict[str, int] = field(default_factory=dict)
    totals: tuple[ColumnTotal, ...] = ()
    problems: tuple[str, ...] = ()  # the first SHOWN_PROBLEMS, described
    problem_count: int = 0
    replaced: tuple[tuple[int, str, int], ...] = ()  # (import id, period, rows removed)
    # seconds the write transaction lasted (on SQLite: the database's write lock was held)
    write_seconds: float = 0.0
    carried_over: int = field(
        metadata={JSON: "decisions_carried_over"}, default=0
    )  # decisions kept across --replace

    def as_json(self) -> dict:
        # replaced stays tuples (the CLI unpacks them); they get their keys
        return {**to_json(self), "replaced": named_rows(REPLACED, self.replaced)}


def ingest(
    ctx: Context,
    path: str | Path,
    source: str,
    period: str | None = None,
    *,
    replace: bool = False,
    append: bool = False,
    source_ok: bool = False,
    skip_invalid: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> IngestResult:
    """``append``: rows identical to an earlier import's are new rows all the same;
    ``source_ok``: the file belongs to this source whatever its name and parties say
    (both recorded on the import)."""
    if replace and append:
        raise InvalidInput(
            "--replace and --append exclude each other: a file either replaces or adds",
            web="Replace and Append exclude each other: a file either replaces or adds",
        )
    expect = Period.parse(period) if period else None
    with ctx.read() as conn:
        src = lookup.source(conn, source)
        if not source_ok:
            guards.check_name(Path(path).name, src, sources_repo.list_all(conn))
        if expect and not dry_run:
            row = periods_repo.get(conn, expect.name)
            if row is not None:
                ensure_writable(row.name, PeriodStatus(row.status))
    mapping = TagMapping.build(
        ctx.settings.mapping(), json.loads(src.tag_mapping) if src.tag_mapping else None
    )
    with ctx.read() as conn:
        evaluator = Evaluator(current_rules(ctx, conn), compile_pattern)
        rules = AttributionRules(review_repo.active_attribution_rules(conn))
        registry = registry_svc.snapshot(conn)
    for exact in (False, True):
        focus = FocusFile(
            path,
            default_currency=ctx.settings.currency,
            keep_columns=mapping.columns,
            exact=exact,
            limits=limits(ctx),
        )
        flagger = RowFlagger(mapping, evaluator, rules, expect.name if expect else None, registry)
        run = _Run(ctx, focus, src, expect, flagger, replace, skip_invalid, dry_run, progress)
        run.append, run.source_ok = append, source_ok
        dup: _Duplicate | None = None
        try:
            result = run.execute()
        except NeedsExactReader:
            continue  # records span lines: read again with the csv module
        except imports_repo.ActiveDuplicate:  # the same file committed meanwhile (a race)
            with ctx.read() as conn:
                row = imports_repo.find_active_by_sha(conn, focus.scan.sha256)
            if row is None:
                raise
            dup = _Duplicate(row)
        except _Duplicate as caught:
            dup = caught
        if dup is not None:
            return IngestResult(
                "duplicate",
                focus.name,
                dup.row.source_name,
                dup.row.sha256,
                dup.row.focus_version,
                duplicate_of=dup.row.id,
                rows=dup.row.row_count,
            )
        if not dry_run:
            # New spend may cross budget thresholds: raise those alerts now (shown on the
            # dashboard); `budgets alerts --check` emails them when email alerts are on.
            for name in result.periods:
                budgets.check_alerts(ctx, name)
        return result
    raise AssertionError("unreachable")


def limits(ctx: Context) -> Limits:
    b = ctx.settings.ingest
    return Limits(b.max_expanded_mb * 2**20, b.max_line_kb * 1024, b.max_value_chars)


class _Duplicate(Exception):
    """The file was imported before (same SHA-256): roll back, say so."""

    def __init__(self, row):
        super().__init__(f"duplicate of import #{row.id}")
        self.row = row


class _Run:
    def __init__(
        self,
        ctx: Context,
        focus: FocusFile,
        src: Any,  # the source's row
        expect: Period | None,
        flagger: RowFlagger,
        replace: bool,
        skip_invalid: bool,
        dry_run: bool,
        progress: Progress | None,
    ) -> None:
        self.ctx, self.focus, self.src, self.expect = ctx, focus, src, expect
        self.flagger, self.replace, self.skip_invalid = flagger, replace, skip_invalid
        self.dry_run, self.progress = dry_run, progress
        self.carried = 0
        self.append = self.source_ok = False
        self.parties = guards.Parties()
        self.period_ids: dict[str, int] = {}
        self.periods: set[str] = set()
        self.dup_checked = False
        self.size = focus.path.stat().st_size

    def execute(self) -> IngestResult:
        if self.dry_run:
            for batch in self.focus.batches():
                self.flagger.apply(batch)
                self._report_progress()
            self._refuse_if_bad()
            return self._result("dry-run", None, (), ())
        started = self.ctx.clock()
        if self.ctx.dialect == "sqlite":
            # read, parse, check and flag into a side file; hold the write lock to publish only
            with staging.sqlite_stage() as stage:
                self._read_into(stage)
                t0 = time.perf_counter()
                with self.ctx.write(attach=stage.path) as conn:
                    result = self._publish(conn, stage, started)
                return replace_fields(result, write_seconds=round(time.perf_counter() - t0, 3))
        # PostgreSQL: the rows stream into the transaction's tables while the file is read
        with self.ctx.write() as conn, staging.postgres_stage(conn) as pg_stage:
            self._read_into(pg_stage)
            return self._publish(conn, pg_stage, started)

    def _read_into(self, stage: staging.Stage) -> None:
        for batch in prefetch(self.focus.batches()):
            self._check_duplicate()
            self._stage(stage, batch)
            self._report_progress()
        self._refuse_if_bad()
        # what was remembered across batches is not needed to publish: on SQLite the
        # write's page cache (up to 256 MiB) comes on top (2,000,000 rows: 980 MB peak)
        self.focus.forget()
        self.flagger.forget()
        stage.forget()
        stage.ready()

    def _publish(self, conn, stage: staging.Stage, started) -> IngestResult:
        """The write phase: the import row, its periods (held), the rows, the guards."""
        dup = imports_repo.find_active_by_sha(conn, self.focus.scan.sha256)
        if dup is not None:
            raise _Duplicate(dup)
        values = self._import_values(started)
        direct = stage.direct  # PostgreSQL: a new period's rows written straight to their table
        if direct is not None:
            values["id"] = direct.import_id
        import_id = imports_repo.create(conn, values)
        writers.announce(conn, f"import #{import_id} ({self.focus.name})")  # who waits is told
        for name in sorted(self.periods):
            row = periods_repo.get_or_create(
                conn,
                Period.parse(name),
                self.ctx.actor,
                self.ctx.clock(),
                direct.period_id if direct is not None and direct.period == name else None,
            )
            # held (PostgreSQL: a share lock) until the import commits: a close, finalize
            # or journal export of the period waits for it
            ensure_writable(row.name, PeriodStatus(imports_repo.hold_period(conn, row.id)))
            self.period_ids[name] = row.id
        stage.publish(conn, import_id, self.src.id, self.period_ids)
        self._guard(conn, import_id)
        replaced: tuple[tuple[int, str, int], ...] = ()
        if self.replace:
            self.carried = carry_over(
                ctx=self.ctx,
                conn=conn,
                source_id=self.src.id,
                period_ids=list(self.period_ids.values()),
                import_id=import_id,
            )
            replaced = tuple(
                (old, self._period_name(pid), n)
                for old, pid, n in imports_repo.replace_earlier(
                    conn, import_id, self.src.id, list(self.period_ids.values())
                )
            )
        for pid in self.period_ids.values():
            apply_growth_rule(self.ctx, conn, pid)
        if self.focus.stats.rows >= ANALYZE_ROWS:
            charges_repo.refresh_statistics(conn, self.period_ids.values())
        totals = self._control_totals(conn, import_id)
        imports_repo.add_problems(conn, import_id, self.focus.problems)
        stats = self.focus.stats
        scan = self.focus.scan
        imports_repo.finish(
            conn,
            import_id,
            {
                "sha256": scan.sha256,
                "size_bytes": scan.size,
                "periods": ",".join(sorted(stats.rows_per_period)),
                "row_count": stats.rows,
                "skipped_count": self._skipped(),
                "rounded_values": stats.rounded_values,
                "flagged_count": self.flagger.flagged,
                "focus_version": self.focus.version,
                "columns": json.dumps({"mapped": self.focus.mapped, "unmapped": self.focus.unmapped}),
                "finished_at": self.ctx.clock(),
                "status": "complete",
                "appended": self.append,
                "source_ok": self.source_ok,
                "parties": self.parties.to_json(),
            },
        )
        return self._result("imported", import_id, totals, replaced)

    # -- pieces ---------------------------------------------------------------------------
    def _check_duplicate(self) -> None:
        """Once the hash is known (computed while the file is read): a file imported
        before is not read to its end. (The write phase checks again.)"""
        if self.dup_checked or not self.focus.scanned:
            return
        self.dup_checked = True
        with self.ctx.read() as conn:
            dup = imports_repo.find_active_by_sha(conn, self.focus.scan.sha256)
        if dup is not None:
            raise _Duplicate(dup)

    def _guard(self, conn, import_id: int) -> None:
        """The source and overlap guards, over the rows just written (rolled back if refused)."""
        # the same file committed by an import that ran alongside (the publish waited for
        # it on PostgreSQL): a duplicate, not an overlap
        dup = imports_repo.find_active_by_sha(conn, self.focus.scan.sha256)
        if dup is not None:
            raise _Duplicate(dup)
        if not self.source_ok:
            earlier = imports_repo.source_parties(conn, self.src.id, import_id)
            if earlier:
                others = imports_repo.parties_by_source(conn, import_id)
                guards.check_parties(self.focus.name, self.src, self.parties, earlier, others)
        if self.replace or self.append:
            return
        found = imports_repo.overlaps(conn, import_id, self.src.id, list(self.period_ids.values()))
        if found:
            earlier_rows = {
                r.id: (r.filename, r.finished_at) for r in imports_repo.by_ids(conn, {f[0] for f in found})
            }
            raise guards.overlap_refusal(self.focus.name, self.focus.stats.rows, found, earlier_rows)

    def _import_values(self, started) -> dict:
        return {
            "source_id": self.src.id,
            "filename": self.focus.name,
            "sha256": "",
            "size_bytes": 0,
            "format": self.focus.format,
            "focus_version": "",
            "status": "loading",
            "requested_period": self.expect.name if self.expect else None,
            "periods": "",
            "row_count": 0,
            "skipped_count": 0,
            "rounded_values": 0,
            "flagged_count": 0,
            "columns": "{}",
            "actor": self.ctx.actor,
            "started_at": started,
            "finished_at": started,
        }

    def _skipped(self) -> int:
        return len({p.line for p in self.focus.problems})

    def _refuse_if_bad(self) -> None:
        problems = self.focus.problems
        if not problems or self.skip_invalid:
            return
        shown = "\n".join("  " + p.describe(self.focus.name) for p in problems[:SHOWN_PROBLEMS])
        more = len(problems) - SHOWN_PROBLEMS
        tail = f"\n  ... and {more} more problem(s)" if more > 0 else ""
        found = (
            f"{self.focus.name}: {len(problems)} problem(s) in {self._skipped()} row(s); nothing was imported"
        )
        raise FileRefused(
            f"{found}. Fix the file, or import the valid rows with --skip-invalid (the skipped "
            f"lines are recorded on the import):\n{shown}{tail}",
            problems=problems,
            web=f'{found}. Fix the file, or import it again with "Skip invalid rows" (the skipped '
            f"lines are recorded on the import):\n{shown}{tail}",
        )

    def _report_progress(self) -> None:
        if self.progress:
            self.progress(self.focus.stats.rows + self._skipped(), self.size)

    def _period_name(self, pid: int) -> str:
        return next(name for name, i in self.period_ids.items() if i == pid)

    def _stage(self, stage: staging.Stage, batch: Batch) -> None:
        details = batch.details.values
        names = [name_containing(d[0]) for d in details]
        for name in set(names) - self.periods:
            self._check_period(name)
            self.periods.add(name)
        if stage.rows == 0 and len(set(names)) == 1:  # the file's first rows
            stage.direct_to(names[0], self.src.id)
        flagged = self.flagger.apply(batch)  # (attribution, flags, rule id) per row, coded
        self.parties.add((d[_PROVIDER] for d in details), (d[_ACCOUNT] for d in details))
        detail_refs = batch.details.numbers  # the stage's refs are the file-wide numbers
        tag_refs = batch.tags.numbers
        stage.stage_details(detail_refs, details)
        stage.stage_tags(tag_refs, [t[0] if t else None for t in batch.tags.values])
        # each row's combo: its detail, tag set and flagging result, one code per row
        width_t, width_f = len(batch.tags.values), len(flagged.values)
        keys, index = np.unique(
            (batch.details.index * width_t + batch.tags.index) * width_f + flagged.index, return_inverse=True
        )
        combos = []
        for key in keys.tolist():
            dt, f = divmod(key, width_f)
            d, t = divmod(dt, width_t)
            attr, flags, rule_id = flagged.values[f]
            combos.append((names[d], detail_refs[d], tag_refs[t], details[d][2], *attr, flags, rule_id))
        cols: dict[str, Any] = {
            "line": batch.lines,
            "charge_period_start": batch.charge_start,
            "charge_period_end": batch.charge_end,
            "resource_id": batch.strings["ResourceId"],
            "resource_name": batch.strings["ResourceName"],
            "extra": batch.extra,
        }
        for name in MONEY_COLUMNS:
            cols[_snake(name)] = batch.money[name]
        for name, values in batch.decimals.items():
            cols[_snake(name)] = values
        stage.add(cols, combos, index.reshape(-1))

    def _check_period(self, name: str) -> None:
        """Refuse early (before reading on) a file with rows of a closed period; the
        write phase checks again, holding the period."""
        with self.ctx.read() as conn:
            row = periods_repo.get(conn, name)
        if row is not None:
            ensure_writable(row.name, PeriodStatus(row.status))

    def _control_totals(self, conn, import_id: int) -> tuple[ColumnTotal, ...]:
        stats = self.focus.stats
        stored = imports_repo.stored_totals(
            conn,
            import_id,
            self.src.id,
            list(self.period_ids.values()),
            {name: charges_table.c[_snake(name)] for name in MONEY_COLUMNS},
        )
        out = []
        for (currency, column), picos in sorted(stats.totals.items()):
            expected = from_picos(picos)
            got = stored.get((currency, column), Decimal(0))
            if got != expected:  # never expected: a storage fault, not a user mistake
                raise RuntimeError(
                    f"control total mismatch for {column} {currency}: read {expected}, stored {got}"
                )
            out.append(ColumnTotal(currency, column, stats.file_totals[(currency, column)], got))
        imports_repo.add_totals(
            conn,
            import_id,
            [
                {
                    "currency": t.currency,
                    "cost_column": t.column,
                    "file_total": t.file_total,
                    "stored_total": t.stored_total,
                }
                for t in out
            ],
        )
        return tuple(out)

    def _result(self, status, import_id, totals, replaced) -> IngestResult:
        stats = self.focus.stats
        if status == "dry-run":
            totals = tuple(
                ColumnTotal(c, col, stats.file_totals[(c, col)], from_picos(p))
                for (c, col), p in sorted(stats.totals.items())
            )
        problems = self.focus.problems
        return IngestResult(
            status,
            self.focus.name,
            self.src.name,
            self.focus.scan.sha256,
            self.focus.version,
            import_id=import_id,
            rows=stats.rows,
            skipped=self._skipped(),
            flagged=self.flagger.flagged,
            carried_over=self.carried,
            rounded_values=stats.rounded_values,
            periods=dict(sorted(stats.rows_per_period.items())),
            totals=totals,
            problems=tuple(p.describe(self.focus.name) for p in problems[:SHOWN_PROBLEMS]),
            problem_count=len(problems),
            replaced=replaced,
        )


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


__all__ = ["IngestResult", "InvalidInput", "ingest"]
