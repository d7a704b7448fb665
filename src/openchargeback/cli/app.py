"""The `openchargeback` command. Exit codes: 0 ok, 1 a user error (one message, no
traceback), 2 usage."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from openchargeback import __version__
from openchargeback.cli.admin import db_app, imports_app, periods_app, sources_app
from openchargeback.cli.convert import convert_app, rates_app, validate_command
from openchargeback.cli.ingest import ingest_command
from openchargeback.cli.journal import export_journal_command, journals_app
from openchargeback.cli.registry import (
    adjustments_app,
    budgets_app,
    funds_app,
    pis_app,
    projects_app,
    splits_app,
)
from openchargeback.cli.reports import charges_app, report_app
from openchargeback.cli.review import review_app
from openchargeback.cli.statements import generate_command, statements_app
from openchargeback.cli.users import serve_command, users_app
from openchargeback.domain.errors import OpenChargebackError

try:  # typer >= 0.20 vendors click and raises its own exceptions
    from typer import TyperException as _UsageError
except ImportError:  # older typer raises click's
    from click import ClickException as _UsageError

app = typer.Typer(
    name="openchargeback",
    help="Billing for research computing: import FOCUS cost data, review it, close the month.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"openchargeback {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    """Billing for research computing."""


app.command("ingest")(ingest_command)
app.add_typer(imports_app, name="imports")
app.add_typer(periods_app, name="periods")
app.add_typer(sources_app, name="sources")
app.add_typer(charges_app, name="charges")
app.add_typer(report_app, name="report")
app.add_typer(db_app, name="db")
app.add_typer(convert_app, name="convert")
app.add_typer(rates_app, name="rates")
app.command("validate")(validate_command)
app.add_typer(review_app, name="review")
app.add_typer(users_app, name="users")
app.command("serve")(serve_command)
app.command("generate")(generate_command)
app.add_typer(statements_app, name="statements")
app.add_typer(pis_app, name="pis")
app.add_typer(projects_app, name="projects")
app.add_typer(funds_app, name="funds")
app.add_typer(splits_app, name="splits")
app.add_typer(adjustments_app, name="adjustments")
app.add_typer(budgets_app, name="budgets")
app.command("export-journal")(export_journal_command)
app.add_typer(journals_app, name="journals")


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="openchargeback", standalone_mode=False)
    except OpenChargebackError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _UsageError as exc:  # usage errors (exit 2), shown as the parser words them
        if hasattr(exc, "show"):
            exc.show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a file that cannot be read or written: the user's to fix
        typer.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted; the file being imported was rolled back", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
