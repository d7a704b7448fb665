"""Shared CLI plumbing: config option, context, output helpers."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from openchargeback.config import load_settings
from openchargeback.domain.money import round_minor
from openchargeback.services.context import Context, build_context

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "-c", "--config", help="Configuration file (default: $OPENCHARGEBACK_CONFIG).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
PeriodOpt = Annotated[str, typer.Option("-p", "--period", help="Billing period, YYYY-MM.")]


def context(config: Path | None) -> Context:
    return build_context(load_settings(config))


def emit_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def amount(d: Decimal | None, currency: str = "") -> str:
    """Cents for people; JSON output carries the exact value."""
    if d is None:
        return "-"
    text = f"{round_minor(d):,.2f}"
    return f"{text} {currency}".strip()


def table(headers: list[str], rows: list[list], *, right: set[int] = frozenset()) -> None:
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
