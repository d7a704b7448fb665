"""`export-journal` and `journals list|show|download`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, PeriodOpt, amount, context, emit_json, table
from openchargeback.services import journal as svc

journals_app = typer.Typer(help="Journal exports: list, show, download earlier files.", no_args_is_help=True)

FormatOpt = Annotated[
    str,
    typer.Option(
        "-f", "--format", help="standard, summary, gl, or the name of a template in journal.template_dir."
    ),
]
IdArg = Annotated[int, typer.Argument(help="Export id (see `journals list`).", show_default=False)]


def export_journal_command(
    period: PeriodOpt,
    fmt: FormatOpt = "gl",
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="File or directory to write (default: journal.output_dir/PERIOD/); "
            "- writes to standard output.",
            show_default=False,
        ),
    ] = None,
    draft: Annotated[
        bool,
        typer.Option(
            "--draft", help="Allow an open period; the file is marked DRAFT in its name and first line."
        ),
    ] = False,
    delta: Annotated[
        bool,
        typer.Option("--delta", help="Only the differences against the last posted export of the period."),
    ] = False,
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="Export postings of a period whose journal was exported for posting before "
            "(a second posting, recorded on the export).",
        ),
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a period's journal (GL) file from its approved charges, and record it."""
    ctx = context(config)
    to_stdout = output == "-"
    result = svc.export_journal(
        ctx,
        period,
        fmt,
        None if to_stdout else output,
        draft=draft,
        delta=delta,
        again=again,
        write=not to_stdout,
    )
    if to_stdout:
        _, content = svc.export_file(ctx, result.export.id)
        sys.stdout.flush()
        binary = getattr(sys.stdout, "buffer", None)
        if binary is not None:
            binary.write(content)
            binary.flush()
        else:  # a text stream (tests capture output this way)
            sys.stdout.write(content.decode("utf-8"))
        return
    if as_json:
        emit_json(result.as_json())
        return
    e = result.export
    typer.echo(
        f"{'DRAFT ' if e.draft else ''}journal of {e.period} ({e.period_status}), format {e.format}"
        f"{' (delta)' if e.delta else ''}{' (again)' if e.again else ''}: {e.rows} row(s)"
    )
    _print_totals(e)
    for note in result.notes:
        typer.echo(note)
    typer.echo(f"export {e.id}, sha256 {e.sha256}")
    typer.echo(f"file: {result.path}")
    if result.control_path:
        typer.echo(f"control totals: {result.control_path}")


def _print_totals(e: svc.ExportInfo) -> None:
    for t in e.totals:
        if e.format in ("standard", "summary"):
            typer.echo(f"charged: {amount(t.charged, t.currency)}")
        else:
            typer.echo(
                f"debits {amount(t.debit, t.currency)}, credits {amount(t.credit, t.currency)}"
                f" ({'balanced' if t.debit == t.credit else 'NOT BALANCED'}); "
                f"charges in the journal {amount(t.charged, t.currency)}"
            )


@journals_app.command("list")
def journals_list(
    period: Annotated[str | None, typer.Option("-p", "--period", help="Only this period, YYYY-MM.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every journal export, newest first: format, file, totals, who and when."""
    rows = svc.list_exports(context(config), period)
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    table(
        ["id", "period", "format", "file", "rows", "charged", "debits", "credits", "by", "at"],
        [
            [
                r.id,
                r.period,
                r.format
                + (" delta" if r.delta else "")
                + (" draft" if r.draft else "")
                + (" again" if r.again else ""),
                r.file_name,
                r.rows,
                "; ".join(amount(t.charged, t.currency) for t in r.totals),
                "; ".join(amount(t.debit, t.currency) for t in r.totals if t.debit or t.credit),
                "; ".join(amount(t.credit, t.currency) for t in r.totals if t.debit or t.credit),
                r.created_by,
                f"{r.created_at:%Y-%m-%d %H:%M}",
            ]
            for r in rows
        ],
        right={0, 4, 5, 6, 7},
    )


@journals_app.command("show")
def journals_show(export_id: IdArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """One export: file name, SHA-256, totals, who and when."""
    e = svc.get_export(context(config), export_id)
    if as_json:
        emit_json(e.as_json())
        return
    typer.echo(f"export {e.id}: {e.file_name}")
    basis = f", delta against export {e.basis_id}" if e.delta else ""
    typer.echo(
        f"period {e.period} ({e.period_status} when exported), format {e.format}"
        f"{', draft' if e.draft else ''}{basis}"
        f"{', exported again (the period had been posted before)' if e.again else ''}"
    )
    typer.echo(f"{e.rows} row(s), {e.size_bytes} bytes, sha256 {e.sha256}")
    _print_totals(e)
    typer.echo(f"by {e.created_by} at {e.created_at:%Y-%m-%d %H:%M:%S} UTC")


@journals_app.command("download")
def journals_download(
    export_id: IdArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="File or directory to write (default: the export's file name here)."
        ),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write an earlier export's file exactly as it was exported (its SHA-256 checked)."""
    info, content = svc.export_file(context(config), export_id)
    target = output or Path(info.file_name)
    if target.is_dir():
        target = target / info.file_name
    target.write_bytes(content)
    if as_json:
        emit_json({**info.as_json(), "path": str(target)})
    else:
        typer.echo(f"{target} ({len(content)} bytes, sha256 {info.sha256})")
