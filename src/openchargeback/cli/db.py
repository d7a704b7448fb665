"""`db` commands: upgrade, check, backup, restore, copy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, emit_json
from openchargeback.config import load_settings
from openchargeback.services import database

db_app = typer.Typer(help="Database: check, back up, restore, copy, upgrade.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="The backup file.", show_default=False)]


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Migrate the database to this version's schema (back it up first: `db backup`)."""
    before, after = database.upgrade_database(load_settings(config))
    typer.echo(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@db_app.command("check")
def db_check(
    full: Annotated[
        bool,
        typer.Option("--full", help="SQLite: integrity_check (also every index) instead of quick_check."),
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the database: its storage, then the ledger's invariants (exit 1 on a problem)."""
    from openchargeback.services.context import build_context

    ctx = build_context(load_settings(config), migrate=False)
    try:
        report = database.check_database(ctx, full=full)
    finally:
        ctx.engine.dispose()
    if as_json:
        emit_json(report.as_json())
    else:
        typer.echo(report.database)
        for r in report.results:
            typer.echo(f"  {r.name:<16} {'ok' if not r.problems else f'{len(r.problems)} problem(s)'}")
            for p in r.problems:
                typer.echo(f"    - {p}")
        typer.echo("all checks passed" if report.ok else "problems found: see docs/operations/checking.md")
    if not report.ok:
        raise typer.Exit(1)


@db_app.command("backup")
def db_backup(
    file: FileArg,
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Back up the database to FILE, consistent while the server writes (PostgreSQL: pg_dump)."""
    result = database.backup_database(load_settings(config), file, force=force)
    _report(result, as_json, "backed up")


@db_app.command("restore")
def db_restore(
    file: FileArg,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a database that holds data (SQLite: kept under a new name)."),
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore a backup FILE into the configured database (empty, or replaced with --force)."""
    result = database.restore_database(load_settings(config), file, force=force)
    _report(result, as_json, "restored")


@db_app.command("copy")
def db_copy(
    to: Annotated[
        str, typer.Option("--to", help="URL of the empty database to copy into.", show_default=False)
    ],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy every table into another, empty database (SQLite <-> PostgreSQL), then verify it."""

    def progress(table: str, n: int) -> None:
        if n and not as_json:
            typer.echo(f"  {table}: {n:,} rows", err=True)

    result = database.copy_database(load_settings(config), to, progress)
    if as_json:
        emit_json(result.as_json())
    else:
        total = sum(result.rows.values())
        typer.echo(
            f"copied {total:,} rows of {len(result.rows)} tables from {result.source} to {result.target}"
        )
        typer.echo("  figures equal: rows of every table, charge sums, statement totals, documents")
        problems = [p for r in result.check.results for p in r.problems]
        typer.echo("  db check of the copy: " + ("passed" if not problems else "; ".join(problems)))
    if not result.check.ok:
        raise typer.Exit(1)


def _report(result: database.BackupResult, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(result.as_json())
    elif not result.ran:
        typer.echo(f"{result.command.split()[0] if result.command else 'the tool'} is not on PATH; run:")
        typer.echo(f"  {result.command}")
    else:
        size = f" ({result.size_bytes:,} bytes)" if result.size_bytes is not None else ""
        typer.echo(f"{verb} {result.database} {'to' if verb == 'backed up' else 'from'} {result.file}{size}")
        if result.command:
            typer.echo(f"  ran: {result.command}")
        if result.kept:
            typer.echo(f"  the replaced database is kept as {result.kept}")
        if verb == "restored" and result.revision:
            typer.echo(
                f"  schema revision {result.revision}; restart the web server and workers"
                + (
                    ""
                    if result.revision == database.HEAD_REVISION
                    else "; then run `openchargeback db upgrade`"
                )
            )
    if not result.ran:
        raise typer.Exit(1)


__all__ = ["db_app"]
