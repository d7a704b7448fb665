"""`convert slurm|storage|csv`, `rates show|check` and `validate`."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, amount, context, emit_json, table
from openchargeback.config import ENV_FILE, load_settings
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.periods import Period
from openchargeback.services.convert import (
    ConvertRequest,
    ConvertResult,
    check_rates,
    convert,
    rates_in_force,
)
from openchargeback.services.ingest import validate_file

convert_app = typer.Typer(
    help="Convert Slurm, storage and CSV data to FOCUS 1.2, priced by a rate table.", no_args_is_help=True
)
rates_app = typer.Typer(help="Rate tables: the rates in force, and their problems.", no_args_is_help=True)

Files = Annotated[list[Path] | None, typer.Argument(help="Input files.", show_default=False)]
OutOpt = Annotated[Path, typer.Option("-o", "--output", help="FOCUS CSV file to write.")]
RatesOpt = Annotated[
    Path | None,
    typer.Option("--rates", help="Rate table (YAML). Default: convert.rates of the configuration."),
]
AttrOpt = Annotated[
    Path | None,
    typer.Option("--attribution", help="Attribution map (YAML or CSV). Default: convert.attribution."),
]
PeriodOpt = Annotated[
    str | None,
    typer.Option(
        "-p", "--period", help="Only this billing period, YYYY-MM (usage is split at its boundaries)."
    ),
]
SkipOpt = Annotated[
    bool,
    typer.Option(
        "--skip-invalid", help="Leave out unreadable records (listed) instead of refusing the input."
    ),
]
ServiceOpt = Annotated[
    str | None,
    typer.Option("--service", help="Service key of the rate table to price with (default: hpc / storage)."),
]
RateFileArg = Annotated[Path, typer.Argument(help="Rate table (YAML).", show_default=False)]


def optional_context(config: Path | None):
    """A services context when a configuration is given (or $OPENCHARGEBACK_CONFIG is set)."""
    if config is None and not os.environ.get(ENV_FILE):
        return None
    return context(config)


def _run(req: ConvertRequest, config: Path | None, as_json: bool) -> ConvertResult:
    result = convert(req, ctx=optional_context(config))
    if as_json:
        emit_json(result.as_json())
    else:
        print_conversion(result)
    return result


def print_conversion(r: ConvertResult) -> None:
    rep = r.report
    where = ", ".join(f"{p} ({n} rows)" for p, n in r.periods.items()) or "no period"
    typer.echo(
        f"{rep['source']}: {rep['records']} record(s) read, {rep['used']} used -> "
        f"{r.output}: {r.rows} FOCUS row(s) in {where}"
    )
    typer.echo(
        f"  list {amount(r.list_total, r.currency)}, subsidies {amount(r.subsidy_total, r.currency)}, "
        f"billed {amount(r.billed_total, r.currency)}"
        + (f" (rate table {r.rate_table})" if r.rate_table else "")
    )
    for reason, n in rep["skipped"].items():
        typer.echo(f"  skipped {n}: {reason}")
    for item, n in rep["unmapped"].items():
        typer.echo(f"  unmapped {item}: {n} row(s) tagged ocb_unmapped")
    for p in rep["problems"][:20]:
        typer.echo(f"  left out: {p}")
    for note in rep["notes"]:
        typer.echo(f"  note: {note}")
    for e in r.ledger:
        used = "; ".join(f"{s} {p}: {q} / {amount(a, r.currency)}" for s, p, q, a in e.consumed) or "nothing"
        typer.echo(f"  ledger {e.period} ({e.fiscal_year}): {e.status} run #{e.run_id}; consumed {used}")
    for w in r.warnings:
        typer.echo(f"  warning: {w}")


@convert_app.command("slurm")
def convert_slurm(
    output: OutOpt,
    files: Files = None,
    rates: RatesOpt = None,
    attribution: AttrOpt = None,
    period: PeriodOpt = None,
    per_job: Annotated[bool, typer.Option("--per-job", help="One row per job and resource.")] = False,
    states: Annotated[
        str | None,
        typer.Option(
            "--states",
            help="Billable states, comma-separated (default: convert.slurm_billable_states "
            "or COMPLETED,FAILED,CANCELLED,TIMEOUT,OUT_OF_MEMORY,PREEMPTED,RUNNING).",
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="Time zone of sacct's times (default: convert.slurm_timezone, UTC)."),
    ] = None,
    service: ServiceOpt = None,
    sacct: Annotated[
        bool,
        typer.Option("--sacct", help="Run sacct for --period instead of reading files (sacct on the PATH)."),
    ] = False,
    skip_invalid: SkipOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Slurm sacct --parsable2 output -> FOCUS: core-hours, GPU-hours by type, memory GB-hours."""
    _run(
        ConvertRequest(
            "slurm",
            tuple(files or ()),
            output,
            rates,
            attribution,
            None,
            period,
            per_job,
            tuple(s.strip() for s in states.split(",") if s.strip()) if states else None,
            timezone,
            service,
            skip_invalid,
            run_sacct=sacct,
        ),
        config,
        as_json,
    )


@convert_app.command("storage")
def convert_storage(
    output: OutOpt,
    files: Files = None,
    rates: RatesOpt = None,
    attribution: AttrOpt = None,
    period: PeriodOpt = None,
    service: ServiceOpt = None,
    skip_invalid: SkipOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Storage usage reports (CSV or JSON) -> FOCUS TB-month / GB-month rows."""
    _run(
        ConvertRequest(
            "storage",
            tuple(files or ()),
            output,
            rates,
            attribution,
            None,
            period,
            service=service,
            skip_invalid=skip_invalid,
        ),
        config,
        as_json,
    )


@convert_app.command("csv")
def convert_csv(
    output: OutOpt,
    mapping: Annotated[Path, typer.Option("--mapping", help="Mapping file (YAML).")],
    files: Files = None,
    rates: RatesOpt = None,
    attribution: AttrOpt = None,
    period: PeriodOpt = None,
    skip_invalid: SkipOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Any CSV -> FOCUS through a mapping file (columns, constants, expressions, tags)."""
    _run(
        ConvertRequest(
            "csv", tuple(files or ()), output, rates, attribution, mapping, period, skip_invalid=skip_invalid
        ),
        config,
        as_json,
    )


@rates_app.command("show")
def rates_show(
    rate_file: RateFileArg,
    on: Annotated[str | None, typer.Option("--date", help="Day, YYYY-MM-DD (default: today).")] = None,
    period: Annotated[str | None, typer.Option("-p", "--period", help="First day of this period.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The rates and subsidies in force on a day (and, with -c, the allowance ledger's totals)."""
    if on and period:
        raise InvalidInput("give --date or --period, not both")
    try:
        day = (
            Period.parse(period).start.date()
            if period
            else date.fromisoformat(on)
            if on
            else datetime.now(UTC).date()
        )
    except ValueError:
        raise InvalidInput(f"--date {on!r} is not a date such as 2026-01-31") from None
    ctx = optional_context(config)
    view = rates_in_force(rate_file, day, ctx)
    if as_json:
        emit_json(view.as_json())
        return
    typer.echo(f"rate table {view.name} ({view.currency}) in force on {view.day}; {view.fiscal_year}")
    table(
        ["service", "resource", "selectors", "unit", *view.classes, "from", "to"],
        [
            [
                r.service,
                r.resource,
                ", ".join(f"{k}={v}" for k, v in r.selectors.items()) or "-",
                r.unit,
                *(str(r.prices.get(c, "-")) for c in view.classes),
                r.effective_from,
                r.effective_to or "-",
            ]
            for r in view.rates
        ],
    )
    if view.subsidies:
        typer.echo("")
        table(
            ["subsidy", "kind", "value", "applies to", "fiscal-year cap"],
            [
                [
                    s.name,
                    s.kind,
                    f"{s.value}%" if s.kind == "percent" else f"{s.value} {s.unit}/month",
                    ", ".join(f"{k}={v}" for k, v in s.selectors.items()) or "everything",
                    s.fiscal_year_cap if s.fiscal_year_cap is not None else "-",
                ]
                for s in view.subsidies
            ],
        )
    if view.ledger is not None:
        typer.echo("")
        if not view.ledger:
            typer.echo(f"allowance ledger: nothing consumed in {view.fiscal_year}")
        else:
            table(
                ["subsidy", "project", "quantity", "granted", "cap"],
                [
                    [
                        t.subsidy,
                        t.project_id,
                        t.quantity,
                        amount(t.amount, view.currency),
                        amount(t.cap, view.currency) if t.cap is not None else "-",
                    ]
                    for t in view.ledger
                ],
                right={2, 3, 4},
            )


@rates_app.command("check")
def rates_check(rate_file: RateFileArg, as_json: JsonOpt = False) -> None:
    """Validate a rate table: unknown units, missing prices, overlaps, gaps, subsidies."""
    r = check_rates(rate_file)
    if as_json:
        emit_json(r.as_json())
    else:
        for p in r.problems:
            typer.echo(p.describe())
        warnings = len(r.problems) - r.errors
        typer.echo(
            f"{r.path}: rate table {r.name}: {r.rates} rate(s), {r.subsidies} subsidy(ies); "
            f"{r.errors} error(s), {warnings} warning(s)"
        )
    if r.errors:
        raise typer.Exit(1)


def validate_command(
    file: Annotated[Path, typer.Argument(help="FOCUS file: CSV, CSV.gz or Parquet.", show_default=False)],
    source: Annotated[
        str | None, typer.Option("-s", "--source", help="Use this configured source's tag mapping.")
    ] = None,
    period: Annotated[
        str | None,
        typer.Option("-p", "--period", help="Expected period: rows of other periods are counted as flagged."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Also run focus-validator when it is installed and summarise it.")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the importer would do with a FOCUS file, without touching the database."""
    settings = load_settings(config) if (config or os.environ.get(ENV_FILE)) else None
    r = validate_file(file, settings, source=source, period=period, strict=strict)
    if as_json:
        emit_json(r.as_json())
    else:
        _print_validation(r)
    if not r.would_import:
        raise typer.Exit(1)


def _print_validation(r) -> None:
    typer.echo(f"{r.file}: {r.format}, FOCUS {r.focus_version}, sha256 {r.sha256[:12]}...")
    typer.echo(
        f"  columns mapped ({len(r.mapped)}): "
        + ", ".join(name if header == name else f"{name} <- {header}" for name, header in r.mapped.items())
    )
    if r.unmapped:
        typer.echo(f"  kept as extra ({len(r.unmapped)}): {', '.join(r.unmapped)}")
    where = ", ".join(f"{p} ({n} rows)" for p, n in r.rows_per_period.items()) or "no rows"
    typer.echo(f"  {r.rows} valid row(s): {where}")
    for currency, cols in r.totals.items():
        typer.echo("  totals: " + ", ".join(f"{c} {amount(v, currency)}" for c, v in cols.items()))
    for flag, n in r.flags.items():
        typer.echo(f"  would flag {n} row(s): {flag}")
    if r.rounded_values:
        typer.echo(f"  {r.rounded_values} amount(s) have more than 12 decimals (rounded half-even)")
    if r.problem_count:
        typer.echo(
            f"  {r.problem_count} problem(s) in {r.skipped_lines} line(s): the import would be "
            f"refused (or --skip-invalid would leave those lines out):"
        )
        for p in r.problems:
            typer.echo(f"    {p}")
        if r.problem_count > len(r.problems):
            typer.echo(f"    ... and {r.problem_count - len(r.problems)} more")
    else:
        typer.echo("  the importer would accept this file")
    if r.strict is not None:
        typer.echo(f"  strict: {r.strict.message}")
        for f in r.strict.findings:
            typer.echo(f"    {f}")
