"""Shared CLI plumbing: config option, context, output helpers."""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Set as AbstractSet
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from openchargeback import logs
from openchargeback.config import load_settings
from openchargeback.rendering import amounts
from openchargeback.services import database
from openchargeback.services.context import Context, build_context

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "-c", "--config", help="Configuration file (default: $OPENCHARGEBACK_CONFIG).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
PeriodOpt = Annotated[str, typer.Option("-p", "--period", help="Billing period, YYYY-MM.")]


# The -c FILE of the running command (None: $OPENCHARGEBACK_CONFIG or none given).
_given_config: Path | None = None
# How the running command writes amounts (statements.branding.locale of its configuration).
_locale: str = amounts.DEFAULT_LOCALE
# A command a message suggests: in backticks, or in parentheses.
_SUGGESTED = re.compile(r"(?<=`)openchargeback [^`\n]+(?=`)|(?<=\()openchargeback [^()`\n]+(?=\))")


def context(config: Path | None, *, service: bool = False) -> Context:
    """The configuration's context, logging set up (``service``: a long-running process,
    which logs to standard error when no ``logging.file`` is set)."""
    global _given_config, _locale
    _given_config = config
    settings = load_settings(config)
    _locale = settings.statements.branding.locale
    logs.configure(settings, service=service)
    ctx = build_context(settings)
    if not service:  # a service's log goes to standard error already
        database.tell_waits(ctx, lambda message: typer.echo(message, err=True))
    return ctx


def with_config_hint(message: str) -> str:
    """``message`` with the ``-c FILE`` the user gave added to each command it suggests
    (``openchargeback periods close 2025-01`` -> ``... 2025-01 -c FILE``), so that the
    suggestion runs as printed. Unchanged when the configuration came from
    $OPENCHARGEBACK_CONFIG, or the suggestion names one already."""
    if _given_config is None:
        return message
    option = f"-c {shlex.quote(str(_given_config))}"

    def add(m: re.Match[str]) -> str:
        command = m.group(0).rstrip()
        if re.search(r"\s-c CONFIG\b", command):  # the placeholder: the file given
            return re.sub(r"\s-c CONFIG\b", lambda _: f" {option}", command)
        if re.search(r"(^|\s)(-c|--config)(\s|=)", command):
            return m.group(0)
        return f"{command} {option}"

    return _SUGGESTED.sub(add, message)


def emit_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def amount(d: Decimal | None, currency: str = "") -> str:
    """At the currency's minor unit for people (``1,234.56 USD``); JSON carries the exact value."""
    return amounts.amount(d, currency, _locale)


def table(headers: list[str], rows: list[list], *, right: AbstractSet[int] = frozenset()) -> None:
    cells = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(row):
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    typer.echo(fmt(headers))
    typer.echo("  ".join("-" * w for w in widths))
    for r in cells:
        typer.echo(fmt(r))
