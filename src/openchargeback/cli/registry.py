"""`pis`, `projects`, `funds`, `splits`, `adjustments` and `budgets` commands.

Options of `edit` left out keep the stored value; an empty value (``--end ""``) clears it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, amount, context, emit_json, table
from openchargeback.domain import registry as reg
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import to_str
from openchargeback.services import registry as svc

pis_app = typer.Typer(help="PIs: list, add, edit, import FILE.csv, export.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects: list, add, edit, import FILE.csv, export.", no_args_is_help=True)
funds_app = typer.Typer(help="Funds/orgs: list, add, edit, import FILE.csv, export.", no_args_is_help=True)
splits_app = typer.Typer(
    help="Fund splits of projects: list, set, and the allocation they give.", no_args_is_help=True
)
adjustments_app = typer.Typer(help="Adjustment lines (credits or charges): list, add.", no_args_is_help=True)
budgets_app = typer.Typer(help="Spend against budgets, and budget alerts.", no_args_is_help=True)

Opt = typer.Option
Text = str | None
FileArg = Annotated[
    Path, typer.Argument(help="CSV file with a header row of field names.", show_default=False)
]
OutOpt = Annotated[Path | None, Opt("-o", "--output", help="Write to this file instead of stdout.")]
PeriodOpt = Annotated[str, Opt("-p", "--period", help="Billing period, YYYY-MM.")]
MaybePeriod = Annotated[str | None, Opt("-p", "--period", help="Billing period, YYYY-MM (default: latest).")]
BudgetOpt = Annotated[Text, Opt("--budget", help="Budget amount (empty: none).")]
BudgetPerOpt = Annotated[Text, Opt("--budget-per", help="period or fiscal-year (default period).")]


def _given(**values) -> dict[str, str | None]:
    return {k: v for k, v in values.items() if v is not None}


def _show(kind: str, records, as_json: bool) -> None:
    rows = [reg.as_text(kind, r) for r in records]
    if as_json:
        emit_json(rows)
        return
    cols = list(reg.columns(kind))
    table(cols, [[r[c] for c in cols] for r in rows])


def _import(kind: str, file: Path, config, as_json: bool) -> None:
    rep = svc.import_csv(context(config), kind, file)
    if as_json:
        emit_json(rep.as_json())
    else:
        typer.echo(
            f"{rep.file}: {len(rep.added)} added, {len(rep.updated)} updated, {rep.unchanged} unchanged"
        )


def _export(kind: str, output: Path | None, config) -> None:
    text = svc.export_csv(context(config), kind)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


# -- PIs ------------------------------------------------------------------------------------------
ContactOpt = Annotated[list[str] | None, Opt("--contact", help="Billing contact email (repeat for more).")]


@pis_app.command("list")
def pis_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List registered PIs."""
    _show("pis", svc.list_records(context(config), "pis"), as_json)


@pis_app.command("add")
def pis_add(
    email: Annotated[str, typer.Argument(help="The PI's email.", show_default=False)],
    name: Annotated[Text, Opt("--name")] = None,
    department: Annotated[Text, Opt("--department")] = None,
    contact: ContactOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a PI."""
    rec = svc.add_record(
        context(config),
        "pis",
        _given(
            email=email, name=name, department=department, billing_contacts=";".join(contact or []) or None
        ),
    )
    _show("pis", [rec], as_json)


@pis_app.command("edit")
def pis_edit(
    email: Annotated[str, typer.Argument(help="The PI's email.", show_default=False)],
    name: Annotated[Text, Opt("--name")] = None,
    department: Annotated[Text, Opt("--department")] = None,
    contact: ContactOpt = None,
    clear_contacts: Annotated[bool, Opt("--clear-contacts", help="Remove every billing contact.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a PI's name, department or billing contacts (--contact replaces the list)."""
    contacts = "" if clear_contacts else (";".join(contact) if contact else None)
    rec = svc.edit_record(
        context(config), "pis", email, _given(name=name, department=department, billing_contacts=contacts)
    )
    _show("pis", [rec], as_json)


@pis_app.command("import")
def pis_import(file: FileArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Add or update PIs from CSV (email, name, department, billing_contacts); all or nothing."""
    _import("pis", file, config, as_json)


@pis_app.command("export")
def pis_export(output: OutOpt = None, config: ConfigOpt = None) -> None:
    """Write every PI as CSV (the format import reads)."""
    _export("pis", output, config)


# -- projects -------------------------------------------------------------------------------------
NameOpt = Annotated[Text, Opt("--name")]
PiOpt = Annotated[Text, Opt("--pi", help="PI email (must be registered).")]
StatusOpt = Annotated[Text, Opt("--status", help="active, inactive or closed.")]
StartOpt = Annotated[Text, Opt("--start", help="Start date, YYYY-MM-DD.")]
EndOpt = Annotated[Text, Opt("--end", help="End date, YYYY-MM-DD.")]
FundOpt = Annotated[Text, Opt("--default-fund", help="Fund/org for charges that name none.")]


def _project_values(**kw) -> dict:
    kw["pi_email"] = kw.pop("pi")
    kw["start_date"], kw["end_date"] = kw.pop("start"), kw.pop("end")
    kw["budget_per"] = kw.pop("budget_per")
    return _given(**kw)


@projects_app.command("list")
def projects_list(
    pi: PiOpt = None, status: StatusOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False
) -> None:
    """List registered projects (optionally of one PI or status)."""
    _show(
        "projects",
        svc.list_records(context(config), "projects", pi_email=pi.lower() if pi else None, status=status),
        as_json,
    )


@projects_app.command("add")
def projects_add(
    project_id: Annotated[str, typer.Argument(help="Project id as tagged on charges.", show_default=False)],
    pi: PiOpt = None,
    name: NameOpt = None,
    status: StatusOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    default_fund: FundOpt = None,
    budget: BudgetOpt = None,
    budget_per: BudgetPerOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a project (its PI, and default fund if given, must be registered)."""
    rec = svc.add_record(
        context(config),
        "projects",
        _project_values(
            project_id=project_id,
            pi=pi,
            name=name,
            status=status,
            start=start,
            end=end,
            default_fund=default_fund,
            budget=budget,
            budget_per=budget_per,
        ),
    )
    _show("projects", [rec], as_json)


@projects_app.command("edit")
def projects_edit(
    project_id: Annotated[str, typer.Argument(help="Project id.", show_default=False)],
    pi: PiOpt = None,
    name: NameOpt = None,
    status: StatusOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    default_fund: FundOpt = None,
    budget: BudgetOpt = None,
    budget_per: BudgetPerOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change fields of a project."""
    rec = svc.edit_record(
        context(config),
        "projects",
        project_id,
        _project_values(
            pi=pi,
            name=name,
            status=status,
            start=start,
            end=end,
            default_fund=default_fund,
            budget=budget,
            budget_per=budget_per,
        ),
    )
    _show("projects", [rec], as_json)


@projects_app.command("import")
def projects_import(file: FileArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Add or update projects from CSV; all or nothing."""
    _import("projects", file, config, as_json)


@projects_app.command("export")
def projects_export(output: OutOpt = None, config: ConfigOpt = None) -> None:
    """Write every project as CSV."""
    _export("projects", output, config)


# -- funds ----------------------------------------------------------------------------------------
DescOpt = Annotated[Text, Opt("--description")]
FromOpt = Annotated[Text, Opt("--valid-from", help="First valid day, YYYY-MM-DD.")]
ToOpt = Annotated[Text, Opt("--valid-to", help="Last valid day, YYYY-MM-DD.")]


@funds_app.command("list")
def funds_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List registered funds/orgs."""
    _show("funds", svc.list_records(context(config), "funds"), as_json)


@funds_app.command("add")
def funds_add(
    code: Annotated[str, typer.Argument(help="Fund/org code.", show_default=False)],
    description: DescOpt = None,
    valid_from: FromOpt = None,
    valid_to: ToOpt = None,
    budget: BudgetOpt = None,
    budget_per: BudgetPerOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a fund/org."""
    rec = svc.add_record(
        context(config),
        "funds",
        _given(
            code=code,
            description=description,
            valid_from=valid_from,
            valid_to=valid_to,
            budget=budget,
            budget_per=budget_per,
        ),
    )
    _show("funds", [rec], as_json)


@funds_app.command("edit")
def funds_edit(
    code: Annotated[str, typer.Argument(help="Fund/org code.", show_default=False)],
    description: DescOpt = None,
    valid_from: FromOpt = None,
    valid_to: ToOpt = None,
    budget: BudgetOpt = None,
    budget_per: BudgetPerOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change fields of a fund/org."""
    rec = svc.edit_record(
        context(config),
        "funds",
        code,
        _given(
            description=description,
            valid_from=valid_from,
            valid_to=valid_to,
            budget=budget,
            budget_per=budget_per,
        ),
    )
    _show("funds", [rec], as_json)


@funds_app.command("import")
def funds_import(file: FileArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Add or update funds/orgs from CSV; all or nothing."""
    _import("funds", file, config, as_json)


@funds_app.command("export")
def funds_export(output: OutOpt = None, config: ConfigOpt = None) -> None:
    """Write every fund/org as CSV."""
    _export("funds", output, config)


# -- splits ---------------------------------------------------------------------------------------
def _shares(shares) -> str:
    return ", ".join(f"{f} {to_str(p).removesuffix('.00')}%" for f, p in shares)


def _show_splits(items, as_json: bool) -> None:
    if as_json:
        emit_json([i.as_json() for i in items])
        return
    table(
        ["id", "project", "from", "to", "scope", "funds"],
        [
            [
                i.id,
                i.project_id,
                i.first,
                i.last or "(open)",
                f"{i.scope}:{i.scope_value}" if i.scope_value else i.scope,
                _shares(i.shares),
            ]
            for i in items
        ],
    )


@splits_app.command("list")
def splits_list(
    project: Annotated[Text, Opt("--project", help="Only this project.")] = None,
    period: Annotated[Text, Opt("-p", "--period", help="Only splits in force in this period.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List fund splits."""
    _show_splits(svc.list_splits(context(config), project, period), as_json)


@splits_app.command("set")
def splits_set(
    project: Annotated[str, typer.Argument(help="Project id (registered).", show_default=False)],
    first: Annotated[str, Opt("--from", help="First period the split applies to, YYYY-MM.")],
    fund: Annotated[list[str] | None, Opt("--fund", help="FUND=PERCENT; repeat, adding up to 100.")] = None,
    last: Annotated[Text, Opt("--to", help="Last period (inclusive), YYYY-MM; default: open-ended.")] = None,
    source: Annotated[
        list[str] | None, Opt("--source", help="Only charges of this source (repeatable).")
    ] = None,
    service: Annotated[
        list[str] | None, Opt("--service", help="Only charges of this service (repeatable).")
    ] = None,
    clear: Annotated[bool, Opt("--clear", help="Remove the split for these periods instead.")] = False,
    reason: Annotated[Text, Opt("--reason", help="Why (recorded in the audit log).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Split a project's charges between funds by percentage from a period on."""
    if clear == bool(fund):
        raise InvalidInput("give the funds (--fund FUND=PERCENT, repeated) or --clear, not both or neither")
    shares = [svc.parse_share(f) for f in fund or []]
    change = svc.set_split(
        context(config),
        project,
        shares,
        first,
        last,
        sources=tuple(source or ()),
        services=tuple(service or ()),
        reason=reason,
    )
    if as_json:
        emit_json(change.as_json())
        return
    what = _shares(change.shares) if change.shares else "cleared"
    typer.echo(f"{change.project_id} {change.first}..{change.last or ''}: {what}")
    _show_splits(change.after, False)


@splits_app.command("allocation")
def splits_allocation(
    period: PeriodOpt,
    pending: Annotated[bool, Opt("--include-pending", help="Count charges still in review too.")] = False,
    lines: Annotated[bool, Opt("--lines", help="Every allocation line, not totals by fund.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How a period's approved charges and adjustments divide between funds, with the proof
    that the parts add up."""
    a = svc.allocate(context(config), period, include_pending=pending)
    if as_json:
        emit_json(a.as_json())
        return
    if lines:
        table(
            ["kind", "source", "pi", "project", "fund", "service", "%", "list", "billed", "charged"],
            [
                [
                    x.kind,
                    x.source,
                    x.pi_email,
                    x.project_id,
                    x.fund_org,
                    x.service,
                    to_str(x.percent) if x.percent is not None else "",
                    amount(x.list_cost),
                    amount(x.billed_cost),
                    amount(x.charged),
                ]
                for x in a.lines
            ],
            right={7, 8, 9},
        )
    for cur in sorted({p.currency for p in a.proofs}):
        if not lines:
            funds = a.by_fund(cur)
            table(
                ["fund", f"charged {cur}"],
                [[f or "(none)", amount(v)] for f, v in sorted(funds.items(), key=lambda kv: kv[0] or "")],
                right={1},
            )
        for p in a.proofs:
            if p.currency == cur and p.amount == "charged":
                typer.echo(
                    f"{cur}: charges {to_str(p.charges_exact)} exact, {to_str(p.charges_rounded)} "
                    f"in cent lines, adjustments {to_str(p.adjustments)}, allocated "
                    f"{to_str(p.allocated)}: {'balanced' if a.balanced else 'NOT BALANCED'}"
                )


# -- adjustments ----------------------------------------------------------------------------------
@adjustments_app.command("list")
def adjustments_list(period: PeriodOpt, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List a period's adjustments."""
    items = svc.list_adjustments(context(config), period)
    if as_json:
        emit_json([i.as_json() for i in items])
        return
    table(
        ["id", "amount", "pi", "project", "fund", "source", "reason", "by"],
        [
            [
                i.id,
                amount(i.amount, i.currency),
                i.pi_email,
                i.project_id,
                i.fund_org,
                i.source,
                i.reason,
                i.created_by,
            ]
            for i in items
        ],
        right={1},
    )


@adjustments_app.command("add")
def adjustments_add(
    period: PeriodOpt,
    amount_text: Annotated[str, Opt("--amount", help="Negative for a credit, e.g. --amount=-50.00.")],
    reason: Annotated[str, Opt("--reason", help="Why (shown on the statement).")],
    pi: Annotated[Text, Opt("--pi", help="PI email.")] = None,
    project: Annotated[Text, Opt("--project")] = None,
    fund: Annotated[Text, Opt("--fund", help="Fund/org (default: the project's split or fund).")] = None,
    source: Annotated[Text, Opt("--source", help="Source the adjustment belongs to.")] = None,
    currency: Annotated[Text, Opt("--currency", help="Default: the configured currency.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a credit or charge line to an open period."""
    a = svc.add_adjustment(
        context(config),
        period,
        amount_text,
        reason,
        pi_email=pi,
        project_id=project,
        fund_org=fund,
        source=source,
        currency=currency,
    )
    if as_json:
        emit_json(a.as_json())
    else:
        typer.echo(
            f"adjustment #{a.id} in {a.period}: {amount(a.amount, a.currency)} "
            f"for {a.project_id or a.pi_email or a.fund_org} ({a.reason})"
        )


# -- budgets --------------------------------------------------------------------------------------
@budgets_app.command("show")
def budgets_show(period: MaybePeriod = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Spend against budget of every project and fund with a budget."""
    items = svc.budget_status(context(config), period)
    if as_json:
        emit_json([i.as_json() for i in items])
        return
    table(
        ["holder", "span", "budget", "spend", "used", "remaining"],
        [
            [
                f"{i.holder_kind} {i.holder}",
                i.span,
                amount(i.budget),
                amount(i.spend),
                f"{i.percent}%",
                amount(i.remaining),
            ]
            for i in items
        ],
        right={2, 3, 4, 5},
    )


@budgets_app.command("alerts")
def budgets_alerts(
    check: Annotated[bool, Opt("--check", help="First raise alerts newly crossed (for cron).")] = False,
    period: MaybePeriod = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Budget alerts raised (each threshold once); with --check, raise new ones first."""
    ctx = context(config)
    result = svc.check_and_send(ctx, period) if check else None
    items = svc.list_alerts(ctx)
    if as_json:
        emit_json({"check": result.as_json() if result else None, "alerts": [i.as_json() for i in items]})
        return
    if result is not None:
        typer.echo(f"{len(result.raised)} new alert(s); {result.unsent} waiting to be emailed")
    table(
        ["id", "holder", "span", "threshold", "spend", "budget", "raised", "emailed"],
        [
            [
                i.id,
                f"{i.holder_kind} {i.holder}",
                i.span,
                f"{i.threshold}%",
                amount(i.spend),
                amount(i.budget),
                f"{i.raised_at:%Y-%m-%d %H:%M}",
                f"{i.notified_at:%Y-%m-%d}" if i.notified_at else ("pending" if i.recipients else "-"),
            ]
            for i in items
        ],
        right={3, 4, 5},
    )
