"""`report totals`, `report subsidies` and `charges list`."""

from __future__ import annotations

import csv
import sys
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from openchargeback.cli.common import (
    ConfigOpt,
    JsonOpt,
    PeriodOpt,
    amount,
    context,
    emit_json,
    table,
)
from openchargeback.domain.money import to_str
from openchargeback.services.charges import list_charges
from openchargeback.services.reports import GROUPINGS, period_totals, subsidy_report

report_app = typer.Typer(help="Reports over a period.", no_args_is_help=True)
charges_app = typer.Typer(help="Browse charges.", no_args_is_help=True)


@report_app.command("totals")
def report_totals(
    period: PeriodOpt,
    by: Annotated[str | None, typer.Option("--by", help=f"Group by: {', '.join(GROUPINGS)}.")] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="Only this currency.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Totals of the four FOCUS costs for a period, optionally by group."""
    t = period_totals(context(config), period, by=by, currency=currency)
    if as_json:
        emit_json(t.as_json())
        return
    c = t.currency
    rows = [
        [
            g if g is not None else "(none)",
            x.rows,
            amount(x.list_cost),
            amount(x.contracted_cost),
            amount(x.effective_cost),
            amount(x.billed_cost),
        ]
        for g, x in t.groups
    ]
    rows.append(
        [
            "TOTAL",
            t.totals.rows,
            amount(t.totals.list_cost),
            amount(t.totals.contracted_cost),
            amount(t.totals.effective_cost),
            amount(t.totals.billed_cost),
        ]
    )
    typer.echo(f"period {t.period}, {c}")
    table([by or "", "rows", "list", "contracted", "effective", "billed"], rows, right={1, 2, 3, 4, 5})


@report_app.command("subsidies")
def report_subsidies(
    period: Annotated[str | None, typer.Option("-p", "--period", help="Billing period, YYYY-MM.")] = None,
    fiscal_year: Annotated[
        str | None, typer.Option("--fiscal-year", help="A fiscal year (FY2025) instead of one period.")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Subsidies (list price minus amount due) by source, paying fund and PI."""
    r = subsidy_report(context(config), period, fiscal_year)
    if as_json:
        emit_json(r.as_json())
        return
    typer.echo(f"subsidies of {r.label} ({', '.join(r.periods)})")
    table(
        ["source", "subsidy fund", "PI", "list", "due", "subsidy"],
        [
            [
                x.source or "TOTAL",
                x.fund_org or ("(not funded: less recovery)" if x.source else ""),
                x.pi_email or ("(none)" if x.source else ""),
                amount(x.list_cost, x.currency),
                amount(x.charged, x.currency),
                amount(x.subsidy, x.currency),
            ]
            for x in (*r.rows, *r.totals)
        ]
        if r.rows
        else [],
        right={3, 4, 5},
    )


_CSV_COLUMNS = [
    "id",
    "period",
    "source",
    "import_id",
    "line",
    "service_name",
    "resource_id",
    "charge_period_start",
    "charge_period_end",
    "currency",
    "list_cost",
    "contracted_cost",
    "effective_cost",
    "billed_cost",
    "pi_email",
    "project_id",
    "fund_org",
    "flags",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """Text a spreadsheet will not execute as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()  # a plain negative amount is data, not a formula
    except InvalidOperation:
        return False


@charges_app.command("list")
def charges_list(
    period: Annotated[str | None, typer.Option("-p", "--period")] = None,
    source: Annotated[str | None, typer.Option("-s", "--source")] = None,
    pi: Annotated[str | None, typer.Option("--pi", help="PI email.")] = None,
    project: Annotated[str | None, typer.Option("--project")] = None,
    fund: Annotated[str | None, typer.Option("--fund", help="Fund/org.")] = None,
    flagged: Annotated[
        bool | None, typer.Option("--flagged/--not-flagged", help="Only flagged (or only unflagged) charges.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows per page.")] = 100,
    after: Annotated[int | None, typer.Option("--after", help="Show charges after this id.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """Charges matching the filters, by id, a page at a time (--after for the next page)."""
    page = list_charges(
        context(config),
        period=period,
        source=source,
        pi=pi,
        project=project,
        fund=fund,
        flagged=flagged,
        after_id=after,
        limit=limit,
    )
    if as_json:
        emit_json({"charges": [c.as_json() for c in page.charges], "next_after": page.next_after})
        return
    if as_csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(_CSV_COLUMNS)
        for c in page.charges:
            d = c.as_json()
            d["flags"] = ",".join(c.flags)
            for k in ("list_cost", "contracted_cost", "effective_cost", "billed_cost"):
                d[k] = to_str(getattr(c, k))
            w.writerow([_cell(d[k]) for k in _CSV_COLUMNS])
        return
    table(
        ["id", "period", "source", "service", "resource", "billed", "pi", "project", "fund", "flags"],
        [
            [
                c.id,
                c.period,
                c.source,
                c.service_name,
                c.resource_id,
                amount(c.billed_cost, c.currency),
                c.pi_email,
                c.project_id,
                c.fund_org,
                ",".join(c.flags),
            ]
            for c in page.charges
        ],
        right={0, 5},
    )
    if page.next_after:
        typer.echo(f"more: --after {page.next_after}")
