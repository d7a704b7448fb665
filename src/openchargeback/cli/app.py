"""The `openchargeback` command. Exit codes: 0 ok, 1 a user error (one message, no
traceback), 2 usage."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from openchargeback import __version__
from openchargeback.domain.errors import OpenChargebackError

try:  # typer >= 0.20 vendors click and raises its own exceptions
    from typer import TyperException as _UsageError
except ImportError:  # older typer raises click's
    from click import ClickException as _UsageError  # type: ignore[assignment]

# Every top-level command: (name, module in openchargeback.cli, attribute, its help).
# A command's module (and what it imports: pyarrow, alembic, the web app...) is loaded
# only when that command runs or shows its own --help; `openchargeback --help` lists
# them from this table. The help is the command's own (its Typer's help= or the
# function's docstring); tests/test_cli_start.py keeps the two the same.
COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    (
        "ingest",
        "ingest",
        "ingest_command",
        "Import FOCUS files. Each file is one transaction: it lands whole or not at all.",
    ),
    (
        "validate",
        "convert",
        "validate_command",
        "What the importer would do with a FOCUS file, without touching the database.",
    ),
    ("serve", "serve", "serve_command", "Start the web UI (refuses unsafe settings outside dev_mode)."),
    (
        "worker",
        "worker",
        "worker_command",
        "Run the background jobs the web queues; several may run, on several hosts, against one\n"
        "PostgreSQL database.",
    ),
    (
        "generate",
        "statements",
        "generate_command",
        "Build the statements of a closed period from its approved charges (PDF), and\n"
        "optionally email them.",
    ),
    (
        "export-journal",
        "journal",
        "export_journal_command",
        "Export a period's journal (GL) file from its approved charges, and record it.",
    ),
    ("imports", "admin", "imports_app", "Import history and control totals."),
    ("periods", "admin", "periods_app", "Billing periods: list, open, close, finalize, reopen."),
    ("sources", "admin", "sources_app", "Sources of billing data."),
    ("charges", "reports", "charges_app", "Browse charges."),
    ("report", "reports", "report_app", "Reports over a period."),
    ("db", "db", "db_app", "Database: check, back up, restore, copy, upgrade."),
    (
        "convert",
        "convert",
        "convert_app",
        "Convert Slurm, storage and CSV data to FOCUS 1.2, priced by a rate table.",
    ),
    ("rates", "convert", "rates_app", "Rate tables: the rates in force, and their problems."),
    (
        "review",
        "review",
        "review_app",
        "Review flagged charges: list, approve, reject, correct, rules, recheck.",
    ),
    ("users", "users", "users_app", "Web users: add, list, set passwords, disable."),
    ("statements", "statements", "statements_app", "Statements: list, show, the email log, resend."),
    ("pis", "registry", "pis_app", "PIs: list, add, edit, import FILE.csv, export."),
    ("projects", "registry", "projects_app", "Projects: list, add, edit, import FILE.csv, export."),
    ("funds", "registry", "funds_app", "Funds/orgs: list, add, edit, import FILE.csv, export."),
    ("splits", "registry", "splits_app", "Fund splits of projects: list, set, and the allocation they give."),
    ("adjustments", "registry", "adjustments_app", "Adjustment lines (credits or charges): list, add."),
    ("budgets", "registry", "budgets_app", "Spend against budgets, and budget alerts."),
    ("journals", "journal", "journals_app", "Journal exports: list, show, download earlier files."),
    ("tokens", "tokens", "tokens_app", "API tokens: create, list (with last use), revoke."),
    ("portal", "portal", "portal_app", "PI portal access: link pi users to PIs, grant delegates, list."),
)
_BY_NAME = {c[0]: c for c in COMMANDS}
_TYPER_SETTINGS: dict[str, Any] = {"pretty_exceptions_enable": False, "add_completion": False}


def load_command(name: str) -> Any:
    """The click command of a top-level command, built as ``add_typer``/``command``
    on the root app would build it, importing its module now."""
    _, module, attribute, _help = _BY_NAME[name]
    target = getattr(importlib.import_module(f"openchargeback.cli.{module}"), attribute)
    holder = typer.Typer(**_TYPER_SETTINGS)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    command = typer.main.get_group(holder).commands[name]
    _clean_metavars(command)
    return command


_LIST_TYPE = re.compile(r"^<list\[(\w+)\]>$")


def _clean_metavars(command: Any) -> None:
    """--help shows the kind of value a parameter takes only where it takes one: nothing
    after a plain flag (Typer writes ``<bool>``), and the kind of each value of a
    repeated option or argument (``FILES... <path>``, ``--contact <str>``) rather than
    Typer's ``<list[Path]>``."""
    for sub in getattr(command, "commands", {}).values():
        _clean_metavars(sub)
    _clean_own_metavars(command)


def _clean_own_metavars(command: Any) -> None:
    """_clean_metavars for a command's own options, not its subcommands'."""
    for param in getattr(command, "params", ()):
        _clean_metavar(param)
    help_option = getattr(command, "get_help_option", None)
    if help_option is not None and not getattr(help_option, "_cleaning", False):

        def get_help_option(ctx: Any, _original: Any = help_option) -> Any:
            option = _original(ctx)
            if option is not None:
                _clean_metavar(option)
            return option

        get_help_option._cleaning = True  # type: ignore[attr-defined]
        command.get_help_option = get_help_option


def _clean_metavar(param: Any) -> None:
    shown = getattr(param, "display_type_rich", None)
    if shown is None or getattr(shown, "_cleaned", False) or getattr(param, "metavar", None) is not None:
        return
    flag = bool(getattr(param, "is_flag", False))

    def display(ctx: Any) -> Any:
        if flag:
            return None
        text = shown(ctx)
        found = _LIST_TYPE.match(text) if isinstance(text, str) else None
        return f"<{found.group(1).lower()}>" if found else text

    display._cleaned = True  # type: ignore[attr-defined]
    param.display_type_rich = display


class _Commands(MutableMapping[str, Any]):
    """A group's commands: every name of COMMANDS is known, a command is built (and its
    module imported) when it is looked up. Iterating names loads nothing; ``items()``
    and ``values()`` load every command (for tools that walk the whole tree)."""

    def __init__(self, given: MutableMapping[str, Any]) -> None:
        self._loaded: dict[str, Any] = dict(given)

    def loaded(self, name: str) -> bool:
        return name in self._loaded

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in _BY_NAME:
                raise KeyError(name)
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in _BY_NAME or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        yield from _BY_NAME
        yield from (n for n in self._loaded if n not in _BY_NAME)

    def __len__(self) -> int:
        return len(_BY_NAME.keys() | self._loaded.keys())

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]


class LazyGroup(TyperGroup):
    """The root group (``typer.Typer(cls=...)``): subcommands from COMMANDS, loaded on
    use. Its own --help lists them with the table's help and loads none."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)
        self._listing = False
        _clean_own_metavars(self)  # the root's options; its commands are cleaned as they load

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only (TyperGroup's walks items())

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        commands = self.commands
        if (
            self._listing
            and isinstance(commands, _Commands)
            and not commands.loaded(cmd_name)
            and cmd_name in _BY_NAME
        ):
            return TyperCommand(
                name=cmd_name, help=_BY_NAME[cmd_name][3], rich_markup_mode=self.rich_markup_mode
            )
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="openchargeback",
    cls=LazyGroup,
    help="Billing for research computing: import FOCUS cost data, review it, close the month.",
    no_args_is_help=True,
    **_TYPER_SETTINGS,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"openchargeback {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Billing for research computing."""


def _hinted(message: str) -> str:
    """The message with the -c FILE given added to the commands it suggests (when a
    command loaded the configuration through cli.common)."""
    common = sys.modules.get("openchargeback.cli.common")
    return common.with_config_hint(message) if common is not None else message


def _database_fault(exc: Exception) -> OpenChargebackError | None:
    if "sqlalchemy" not in sys.modules:  # no database was opened: not a database fault
        return None
    from openchargeback.services.database import fault_of

    return fault_of(exc)


def main(argv: list[str] | None = None) -> None:
    from openchargeback import logs

    with logs.command(_command_path(sys.argv[1:] if argv is None else argv)):
        _main(argv)


def _command_path(argv: list[str]) -> str:
    """The command's words (``periods close``), without its arguments or options."""
    words: list[str] = []
    for word in argv[:2]:
        if word.startswith("-") or (words and not _BY_NAME[words[0]][2].endswith("_app")):
            break
        if not words and word not in _BY_NAME:
            break
        words.append(word)
    return " ".join(words) or "(none)"


def _main(argv: list[str] | None) -> None:
    try:
        code = app(args=argv, prog_name="openchargeback", standalone_mode=False)
    except OpenChargebackError as exc:
        typer.echo(f"error: {_hinted(exc.message)}", err=True)
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
    except Exception as exc:  # the database's own failure (disk full, damaged...): one message
        fault = _database_fault(exc)
        if fault is None:
            raise
        typer.echo(f"error: {_hinted(fault.message)}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
