"""`openchargeback ingest`."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, amount, context, emit_json
from openchargeback.services.convert import convert_files
from openchargeback.services.ingest import IngestResult, ingest

if TYPE_CHECKING:  # rich is imported when a bar is shown
    from rich.progress import Progress

_BAR_MIN_BYTES = 5 * 1024 * 1024


def ingest_command(
    files: Annotated[
        list[Path], typer.Argument(help="FOCUS files: CSV, CSV.gz or Parquet.", show_default=False)
    ],
    source: Annotated[str, typer.Option("-s", "--source", help="Source name (see `sources list`).")],
    period: Annotated[
        str | None,
        typer.Option(
            "-p", "--period", help="Expected billing period YYYY-MM; rows of other periods are flagged."
        ),
    ] = None,
    config: ConfigOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and check; write nothing.")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the source's earlier imports for the same period(s).")
    ] = False,
    append: Annotated[
        bool,
        typer.Option(
            "--append",
            help="Rows identical to an earlier import's are new rows all the same (recorded on the import).",
        ),
    ] = False,
    source_ok: Annotated[
        bool,
        typer.Option(
            "--source-ok",
            help="The file belongs to this source although its name or providers suggest another (recorded).",
        ),
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Import the valid rows; record each skipped line on the import."),
    ] = False,
    as_json: JsonOpt = False,
    convert_kind: Annotated[
        str | None,
        typer.Option(
            "--convert", help="Convert the files first, as one data set (slurm, storage or csv; see convert)."
        ),
    ] = None,
    rates: Annotated[Path | None, typer.Option("--rates", help="With --convert: rate table.")] = None,
    attribution: Annotated[
        Path | None, typer.Option("--attribution", help="With --convert: attribution map.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="With --convert csv: mapping file.")
    ] = None,
) -> None:
    """Import FOCUS files. Each file is one transaction: it lands whole or not at all."""
    ctx = context(config)
    results = []
    with tempfile.TemporaryDirectory(prefix="ocb-ingest-") as tmp:
        if convert_kind:  # the inputs become one FOCUS file (one data set), imported as usual
            files = [
                convert_files(
                    ctx,
                    convert_kind,
                    files,
                    Path(tmp),
                    period=period,
                    rates=rates,
                    attribution=attribution,
                    mapping=mapping,
                ).path
            ]
        for path in files:
            with _progress(path, as_json) as progress:
                result = ingest(
                    ctx,
                    path,
                    source,
                    period,
                    replace=replace,
                    append=append,
                    source_ok=source_ok,
                    skip_invalid=skip_invalid,
                    dry_run=dry_run,
                    progress=progress,
                )
            results.append(result)
            if not as_json:
                _print(result)
    if as_json:
        emit_json([r.as_json() for r in results] if len(results) > 1 else results[0].as_json())


def _print(r: IngestResult) -> None:
    if r.status == "duplicate":
        typer.echo(
            f"{r.filename}: already imported as import #{r.duplicate_of} ({r.rows} rows, "
            f"same SHA-256); nothing changed"
        )
        return
    if r.rows == 0 and not r.skipped:  # a header and nothing else: say so, not "0 rows into no period"
        ident = f"; recorded as import #{r.import_id}" if r.import_id else ""
        typer.echo(
            f"{r.filename}: the file holds no rows (only a header): no charge "
            f"{'would be ' if r.status == 'dry-run' else ''}imported from source {r.source}{ident}"
        )
        return
    verb = "would import" if r.status == "dry-run" else "imported"
    where = ", ".join(f"{p} ({n} rows)" for p, n in r.periods.items()) or "no period"
    ident = f" as import #{r.import_id}" if r.import_id else ""
    typer.echo(
        f"{r.filename}: {verb} {r.rows} rows from source {r.source}{ident} "
        f"(FOCUS {r.focus_version}) into {where}"
    )
    for t in r.totals:
        if t.column == "BilledCost":
            typer.echo(f"  billed {amount(t.stored_total, t.currency)}")
    if r.flagged:
        typer.echo(f"  {r.flagged} row(s) flagged for review (see `charges list --flagged`)")
    if r.skipped:
        typer.echo(f"  {r.skipped} invalid row(s) skipped and recorded:")
        for p in r.problems:
            typer.echo(f"    {p}")
        if r.problem_count > len(r.problems):
            typer.echo(f"    ... and {r.problem_count - len(r.problems)} more (`imports show`)")
    if r.rounded_values:
        typer.echo(
            f"  {r.rounded_values} amount(s) had more than 12 decimals and were rounded "
            f"half-even; the file's exact totals are kept on the import"
        )
    for old, period, n in r.replaced:
        typer.echo(f"  replaced {n} row(s) of import #{old} in {period}")


class _progress:
    """A progress bar on a terminal for large files; nothing otherwise."""

    def __init__(self, path: Path, quiet: bool):
        self.enabled = (
            not quiet and sys.stderr.isatty() and path.is_file() and path.stat().st_size >= _BAR_MIN_BYTES
        )
        self.bar: Progress | None = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import Progress

        bar = self.bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("reading", total=None)

        def update(rows: int, _size: int) -> None:
            bar.update(task, description=f"{rows:,} rows read")

        return update

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()
        return False
