"""`openchargeback review ...`: the review workflow from the command line."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
import yaml

from openchargeback.cli.common import ConfigOpt, JsonOpt, PeriodOpt, amount, context, emit_json, table
from openchargeback.domain.errors import InvalidInput
from openchargeback.services import review as svc

review_app = typer.Typer(
    help="Review flagged charges: list, approve, reject, correct, rules, recheck.", no_args_is_help=True
)
rules_app = typer.Typer(help="The review rules: show, set, preview.", no_args_is_help=True)
review_app.add_typer(rules_app, name="rules")

IdsArg = Annotated[
    list[int] | None, typer.Argument(help="Charge ids; without ids, the filters select.", show_default=False)
]
StatusOpt = Annotated[
    str, typer.Option("--status", help="pending, approved, rejected, flagged, disputed or all.")
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Only charges with this flag code.")]
SourceOpt = Annotated[str | None, typer.Option("-s", "--source")]
PiOpt = Annotated[str | None, typer.Option("--pi", help="PI email.")]
ProjectOpt = Annotated[str | None, typer.Option("--project")]
FundOpt = Annotated[str | None, typer.Option("--fund", help="Fund/org.")]
ResourceOpt = Annotated[str | None, typer.Option("--resource-id")]
MinOpt = Annotated[str | None, typer.Option("--min-amount", help="Only charges of at least this size.")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="Why (recorded with the action).")]


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"--min-amount {text!r} is not a number") from None


def _selection(ids, status, reason, source, pi, project, fund, resource, min_amount) -> svc.Selection:
    return svc.Selection(
        ids=tuple(ids) if ids else None,
        status=status,
        reason=reason,
        source=source,
        pi_email=pi,
        project_id=project,
        fund_org=fund,
        resource_id=resource,
        min_amount=_amount(min_amount),
    )


def _done(result: svc.ActionResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_json())
        return
    rule = f"; saved as attribution rule #{result.rule_id}" if result.rule_id else ""
    typer.echo(
        f"{result.action} {result.count} charge(s) of {result.period} ({amount(result.total)} billed){rule}"
    )


@review_app.command("list")
def review_list(
    period: PeriodOpt,
    status: StatusOpt = "pending",
    reason: ReasonOpt = None,
    source: SourceOpt = None,
    pi: PiOpt = None,
    project: ProjectOpt = None,
    fund: FundOpt = None,
    resource_id: ResourceOpt = None,
    min_amount: MinOpt = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    after: Annotated[
        str | None, typer.Option("--after", help="Next page: the value printed as next.")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The review queue of a period, largest amounts first, with the total at stake."""
    q = svc.list_queue(
        context(config),
        period,
        _selection(None, status, reason, source, pi, project, fund, resource_id, min_amount),
        after=after,
        limit=limit,
    )
    if as_json:
        emit_json(q.as_json())
        return
    typer.echo(f"{q.period}: {q.count} {q.status} charge(s), {amount(q.total)} billed")
    table(
        ["id", "source", "service", "resource", "billed", "pi", "project", "fund", "why"],
        [
            [
                i.id,
                i.source,
                i.service,
                i.resource_id,
                amount(i.billed_cost, i.currency),
                i.pi_email,
                i.project_id,
                i.fund_org,
                "; ".join(i.reasons),
            ]
            for i in q.items
        ],
        right={0, 4},
    )
    if q.next_after:
        typer.echo(f"more: --after {q.next_after}")


@review_app.command("approve")
def review_approve(
    period: PeriodOpt,
    ids: IdsArg = None,
    status: StatusOpt = "pending",
    reason: ReasonOpt = None,
    source: SourceOpt = None,
    pi: PiOpt = None,
    project: ProjectOpt = None,
    fund: FundOpt = None,
    resource_id: ResourceOpt = None,
    min_amount: MinOpt = None,
    note: NoteOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve charges: the given ids, or every charge the filters select."""
    _done(
        svc.approve(
            context(config),
            period,
            _selection(ids, status, reason, source, pi, project, fund, resource_id, min_amount),
            note,
        ),
        as_json,
    )


@review_app.command("reject")
def review_reject(
    period: PeriodOpt,
    note: Annotated[str, typer.Option("--note", help="Why (required).")],
    ids: IdsArg = None,
    status: StatusOpt = "pending",
    reason: ReasonOpt = None,
    source: SourceOpt = None,
    pi: PiOpt = None,
    project: ProjectOpt = None,
    fund: FundOpt = None,
    resource_id: ResourceOpt = None,
    min_amount: MinOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject charges (kept, but left out of every total). Approving reverses it while the
    period is open."""
    _done(
        svc.reject(
            context(config),
            period,
            _selection(ids, status, reason, source, pi, project, fund, resource_id, min_amount),
            note,
        ),
        as_json,
    )


@review_app.command("correct")
def review_correct(
    period: PeriodOpt,
    ids: IdsArg = None,
    set_pi: Annotated[str | None, typer.Option("--set-pi", help="New PI email.")] = None,
    set_project: Annotated[str | None, typer.Option("--set-project", help="New project.")] = None,
    set_fund: Annotated[str | None, typer.Option("--set-fund", help="New fund/org.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Every charge with this tag: key=value.")] = None,
    save_rule: Annotated[
        bool, typer.Option("--save-rule", help="Apply the same correction at every future import.")
    ] = False,
    status: StatusOpt = "all",
    reason: ReasonOpt = None,
    source: SourceOpt = None,
    pi: PiOpt = None,
    project: ProjectOpt = None,
    fund: FundOpt = None,
    resource_id: ResourceOpt = None,
    min_amount: MinOpt = None,
    note: NoteOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Correct the PI, project and/or fund/org of charges (ids, filters, --resource-id or --tag)."""
    pair = None
    if tag is not None:
        if "=" not in tag:
            raise InvalidInput(f"--tag {tag!r}: expected key=value")
        key, value = tag.split("=", 1)
        pair = (key, value)
    result = svc.correct(
        context(config),
        period,
        _selection(ids, status, reason, source, pi, project, fund, resource_id, min_amount),
        pi_email=set_pi,
        project_id=set_project,
        fund_org=set_fund,
        note=note,
        save_rule=save_rule,
        tag=pair,
    )
    _done(result, as_json)


@review_app.command("recheck")
def review_recheck(period: PeriodOpt, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Apply the current rules again to the period's charges that have no decision yet."""
    _done(svc.recheck(context(config), period), as_json)


@rules_app.command("show")
def rules_show(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """The review rules in force."""
    rules = svc.current_rules(context(config)).as_dict()
    if as_json:
        emit_json(rules)
    else:
        typer.echo(yaml.safe_dump(rules, sort_keys=False).rstrip())


def _read_rules(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: cannot read review rules: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping of review rules")
    return json.loads(json.dumps(data, default=str))


@rules_app.command("set")
def rules_set(
    file: Annotated[
        Path, typer.Argument(help="YAML file with the rules (see `review rules show`).", show_default=False)
    ],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace the review rules (recorded in the audit log). Run `review recheck` to apply them."""
    rules = svc.set_rules(context(config), _read_rules(file)).as_dict()
    if as_json:
        emit_json(rules)
    else:
        typer.echo(
            "review rules saved; apply them to a period with `openchargeback review recheck -p PERIOD`"
        )


@rules_app.command("preview")
def rules_preview(
    file: Annotated[Path, typer.Argument(help="YAML file with the proposed rules.", show_default=False)],
    period: PeriodOpt,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What proposed rules would flag among every charge of a period; saves nothing."""
    p = svc.preview_rules(context(config), period, _read_rules(file))
    if as_json:
        emit_json(p.as_json())
        return
    typer.echo(
        f"{p.period}: {p.flagged} of {p.charges} charge(s) would be flagged "
        f"({p.newly_flagged} newly, {p.cleared} cleared)"
    )
    for code, words, n in p.by_reason:
        typer.echo(f"  {n:>7}  {code}: {words}")
