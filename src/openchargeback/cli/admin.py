"""`periods`, `sources` and `imports` commands."""

from __future__ import annotations

from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, context, emit_json, table
from openchargeback.services import ingest as imports_svc
from openchargeback.services import periods as periods_svc
from openchargeback.services import sources as sources_svc

periods_app = typer.Typer(help="Billing periods: list, open, close, finalize, reopen.", no_args_is_help=True)
sources_app = typer.Typer(help="Sources of billing data.", no_args_is_help=True)
imports_app = typer.Typer(help="Import history and control totals.", no_args_is_help=True)

PeriodArg = Annotated[str, typer.Argument(help="Billing period, YYYY-MM.", show_default=False)]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the history).")]


def _show_period(p, as_json: bool) -> None:
    if as_json:
        emit_json(p.as_json())
        return
    typer.echo(f"{p.name}: {p.status}")
    for t in p.history:
        reason = f" ({t.reason})" if t.reason else ""
        typer.echo(
            f"  {t.at:%Y-%m-%d %H:%M} UTC  {t.from_status or '-'} -> {t.to_status}  by {t.actor}{reason}"
        )


@periods_app.command("list")
def periods_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List periods with their status."""
    items = periods_svc.list_periods(context(config))
    if as_json:
        emit_json([p.as_json() for p in items])
    else:
        table(["period", "status"], [[p.name, p.status] for p in items])


@periods_app.command("show")
def periods_show(period: PeriodArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """A period's status and its history of transitions."""
    _show_period(periods_svc.get_period(context(config), period), as_json)


@periods_app.command("open")
def periods_open(period: PeriodArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Create a period ahead of its first import."""
    _show_period(periods_svc.open_period(context(config), period), as_json)


def _transition(action: str):
    def command(
        period: PeriodArg, reason: ReasonOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False
    ) -> None:
        _show_period(periods_svc.change_status(context(config), period, action, reason), as_json)

    command.__doc__ = {
        "finalize": "Finalize a closed period: locked, nothing changes.",
        "reopen": "Reopen a closed or finalized period (--reason required).",
    }[action]
    return command


@periods_app.command("close")
def periods_close(
    period: PeriodArg,
    reason: ReasonOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Close although charges are pending review (needs --reason).")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a period: no more imports; statements may be generated. Refused while charges
    are pending review, unless --force with a reason."""
    _show_period(periods_svc.change_status(context(config), period, "close", reason, force=force), as_json)


for _action in ("finalize", "reopen"):
    periods_app.command(_action)(_transition(_action))


@sources_app.command("list")
def sources_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List sources."""
    items = sources_svc.list_sources(context(config))
    if as_json:
        emit_json([s.as_json() for s in items])
        return
    table(
        ["name", "display name", "pattern", "basis", "GL fund/org", "GL account", "from"],
        [
            [
                s.name,
                s.display_name,
                s.file_pattern,
                s.cost_basis,
                s.gl_fund_org,
                s.gl_account,
                "config" if s.from_config else "database",
            ]
            for s in items
        ],
    )


@sources_app.command("add")
def sources_add(
    name: Annotated[str, typer.Argument(help="Short name, e.g. gcp.", show_default=False)],
    display_name: Annotated[str | None, typer.Option("--display-name")] = None,
    file_pattern: Annotated[str | None, typer.Option("--file-pattern", help="e.g. gcp_*.csv")] = None,
    cost_basis: Annotated[str, typer.Option("--cost-basis", help="billed or effective")] = "billed",
    gl_fund_org: Annotated[str | None, typer.Option("--gl-fund-org")] = None,
    gl_account: Annotated[str | None, typer.Option("--gl-account")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a source (stored in the database)."""
    s = sources_svc.add_source(
        context(config),
        name,
        display_name=display_name,
        file_pattern=file_pattern,
        cost_basis=cost_basis,
        gl_fund_org=gl_fund_org,
        gl_account=gl_account,
    )
    if as_json:
        emit_json(s.as_json())
    else:
        typer.echo(f"added source {s.name} ({s.display_name}, {s.cost_basis} basis)")


@imports_app.command("list")
def imports_list(
    source: Annotated[str | None, typer.Option("-s", "--source")] = None,
    period: Annotated[str | None, typer.Option("-p", "--period")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recent imports, newest first."""
    items = imports_svc.list_imports(context(config), source=source, period=period, limit=limit)
    if as_json:
        emit_json([i.as_json() for i in items])
        return
    table(
        ["id", "source", "file", "periods", "rows", "skipped", "flagged", "status", "when"],
        [
            [
                i.id,
                i.source,
                i.filename,
                ",".join(i.periods),
                i.rows,
                i.skipped,
                i.flagged,
                i.status + (f" by #{i.replaced_by}" if i.replaced_by else ""),
                f"{i.finished_at:%Y-%m-%d %H:%M}",
            ]
            for i in items
        ],
        right={0, 4, 5, 6},
    )


@imports_app.command("show")
def imports_show(
    import_id: Annotated[int, typer.Argument(help="Import id.", show_default=False)],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One import: file, hash, control totals, skipped lines, replacements."""
    d = imports_svc.get_import(context(config), import_id)
    if as_json:
        emit_json(d.as_json())
        return
    s = d.summary
    typer.echo(f"import #{s.id}: {s.filename} from {s.source} ({s.status})")
    typer.echo(f"  sha256 {s.sha256}, {d.size_bytes:,} bytes, {d.format}, FOCUS {d.focus_version}")
    typer.echo(f"  by {s.actor} at {s.finished_at:%Y-%m-%d %H:%M} UTC; periods {', '.join(s.periods)}")
    typer.echo(f"  {s.rows} rows, {s.skipped} skipped, {s.flagged} flagged")
    for currency, column, file_total, stored in d.totals:
        same = "=" if file_total == stored else "~ (rounded beyond 12 decimals)"
        typer.echo(f"  {column:<15} file {file_total} {same} stored {stored} {currency}")
    for line, column_name, value, expected in d.problems:
        where = f"column {column_name}: {value!r}: " if column_name else ""
        typer.echo(f"  skipped line {line}: {where}expected {expected}")
    for other, period, n in d.replaced:
        typer.echo(f"  replaced {n} row(s) of import #{other} in {period}")
    for other, period, n in d.replaced_by:
        typer.echo(f"  {n} row(s) in {period} replaced by import #{other}")


__all__ = ["imports_app", "periods_app", "sources_app"]
