"""`generate` and `statements list|show|messages|resend`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, PeriodOpt, amount, context, emit_json, table
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import ZERO
from openchargeback.services import periods
from openchargeback.services import statements as svc

statements_app = typer.Typer(help="Statements: list, show, the email log, resend.", no_args_is_help=True)

PiOpt = Annotated[str | None, typer.Option("--pi", help="Only this PI (email).")]
ProjectOpt = Annotated[str | None, typer.Option("--project", help="Only this project.")]
_ACTIONS = {
    "new": "new",
    "new_version": "new version",
    "unchanged": "unchanged",
    "withdrawn": "withdrawn",
    "preview": "preview",
}


def generate_command(
    period: PeriodOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Preview into a temporary directory; store nothing.")
    ] = False,
    send: Annotated[bool, typer.Option("--send", help="Email the statements not sent yet.")] = False,
    resend: Annotated[
        bool, typer.Option("--resend", help="With --send: send statements that were sent before too.")
    ] = False,
    pi: PiOpt = None,
    project: ProjectOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the statements of a closed period from its approved charges (PDF), and
    optionally email them."""
    if dry_run and send:
        raise InvalidInput("--dry-run and --send cannot be combined: a dry run sends nothing")
    if resend and not send:
        raise InvalidInput("--resend needs --send")
    ctx = context(config)
    # periods.close_when_clear: an open period with no charge pending review is closed
    # first (cron's month); with charges pending, a refusal (exit 1) that says where.
    closed = None if dry_run else periods.close_if_clear(ctx, period, "openchargeback generate")
    if closed is not None and not as_json:
        typer.echo(f"period {closed.name} closed: no charge pending review (periods.close_when_clear)")
    result = svc.generate(
        ctx,
        period,
        dry_run=dry_run,
        pi=pi,
        project=project,
        progress=None if as_json else _progress("rendering"),
    )
    if not as_json:
        _print_generate(result)
    report = None
    if send:
        report = svc.send_period(
            ctx,
            period,
            resend=resend,
            pi=pi,
            project=project,
            progress=None if as_json else _progress("sending"),
        )
    if as_json:
        out = result.as_json()
        if closed is not None:
            out["closed_period"] = closed.as_json()
        if report is not None:
            out["delivery"] = report.as_json()
        emit_json(out)
    elif report is not None:
        _print_delivery(report)
    if report is not None and report.failed:
        raise typer.Exit(1)


def _progress(label: str):
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\r{label} {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _print_generate(r: svc.GenerateResult) -> None:
    head = "DRY RUN: " if r.dry_run else ""
    typer.echo(f"{head}period {r.period} ({r.status}): {len(r.statements)} statement(s)")
    table(
        ["number", "v", "kind", "pi", "project", "list", "discount", "due", "action"],
        [
            [
                s.number,
                s.version,
                s.kind,
                s.pi_email or "(none)",
                s.project_id or "",
                amount(s.list_total),
                amount(s.discount_total),
                amount(s.due_total, s.currency),
                _ACTIONS.get(s.action, s.action),
            ]
            for s in r.statements
        ],
        right={1, 5, 6, 7},
    )
    for currency, total in r.approved_totals:
        typer.echo(f"approved charges: {amount(total, currency)} on the project statements")
    for label, ex in (("pending review", r.pending), ("rejected", r.rejected)):
        amounts = ", ".join(amount(a, c) for c, a in ex.amounts) or amount(ZERO)
        typer.echo(f"excluded {label}: {ex.count} charge(s), {amounts}")
    counts = ", ".join(f"{n} {_ACTIONS[a]}" for a in _ACTIONS if (n := r.count(a)))
    if counts:
        typer.echo(counts)
    for note in r.notes:
        typer.echo(note)
    if r.directory:
        typer.echo(f"{'previews' if r.dry_run else 'files'}: {r.directory}")


def _print_delivery(d: svc.DeliveryReport) -> None:
    partial = sum(1 for m in d.messages if m.status == "partial")
    typer.echo(
        f"email ({d.transport}): {d.sent} sent"
        + (f" ({partial} partly: a CC did not get it)" if partial else "")
        + f", {d.failed - d.in_doubt} failed"
        + (f", {d.in_doubt} in doubt" if d.in_doubt else "")
        + (f", {d.skipped_sent} statement(s) already sent (use --resend)" if d.skipped_sent else "")
    )
    for m in d.messages:
        where = f" -> {m.outbox_path}" if m.outbox_path else ""
        err = f": {m.error}" if m.error else ""
        typer.echo(
            f"  message {m.id} {m.status} to {', '.join(m.to) or '(nobody)'}"
            f"{' cc ' + ', '.join(m.cc) if m.cc else ''} [{', '.join(m.statements)}]{where}{err}"
        )
    if d.recovered:
        typer.echo(
            f"message(s) {', '.join(map(str, d.recovered))} were left sending by a batch that stopped: "
            "now in doubt",
            err=True,
        )
    if d.in_doubt_held:
        typer.echo(
            f"skipped: statements held by in-doubt message(s) {', '.join(map(str, d.in_doubt_held))}; "
            "check with the PI, then `statements resend ID --in-doubt` or `statements mark-delivered ID` "
            "/ `statements mark-failed ID`",
            err=True,
        )
    if d.stopped:
        typer.echo(d.stopped, err=True)
    if d.failed:
        typer.echo(
            "resend failed messages with `openchargeback statements resend ID` "
            "or `statements resend --failed -p PERIOD`; in-doubt ones only with --in-doubt",
            err=True,
        )


@statements_app.command("list")
def statements_list(
    period: PeriodOpt,
    pi: PiOpt = None,
    project: ProjectOpt = None,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Include superseded and withdrawn versions.")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The statements of a period: number, PI, project, totals, version, sent status."""
    rows = svc.list_statements(context(config), period, pi=pi, project=project, all_versions=all_versions)
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    table(
        ["number", "v", "status", "pi", "project", "list", "discount", "due", "sent"],
        [
            [
                r.number,
                r.version,
                r.status,
                r.pi_email or "(none)",
                r.project_id or ("(summary)" if r.kind == "pi" else ""),
                amount(r.list_total),
                amount(r.discount_total),
                amount(r.due_total, r.currency),
                f"{r.sent_at:%Y-%m-%d %H:%M}" if r.sent_at else "no",
            ]
            for r in rows
        ],
        right={1, 5, 6, 7},
    )


@statements_app.command("show")
def statements_show(
    number: Annotated[str, typer.Argument(help="Statement number.", show_default=False)],
    version: Annotated[
        int | None, typer.Option("--version", help="This version (default: the latest).")
    ] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Write the PDF as issued to this file.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the detail CSV to this file.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML preview to this file.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One statement: its lines, totals and versions; optionally its files."""
    ctx = context(config)
    d = svc.get_statement(ctx, number, version)
    for target, kind in ((pdf, "pdf"), (csv_out, "csv")):
        if target is not None:
            _, content = svc.statement_file(ctx, d.row.number, d.row.version, kind=kind)
            target.write_bytes(content)
    if html is not None:
        html.write_text(svc.preview_html(ctx, d.row.number, d.row.version), encoding="utf-8")
    if as_json:
        emit_json(d.as_json())
        return
    r, c = d.row, d.data
    typer.echo(f"{r.number} v{r.version} ({r.status}) period {d.period}, {r.kind} statement")
    typer.echo(
        f"PI {r.pi_email or '(none)'}  project {r.project_id or '-'}  funds "
        f"{', '.join(c.get('funds') or []) or '-'}"
    )
    typer.echo("basis: " + ", ".join(f"{b['source']} {b['basis']}" for b in c.get("cost_basis", [])))
    table(
        ["fund", "service", "quantity", "list", "discount", "due"],
        [
            [
                ln["fund"] or "",
                ln["service"] + (f" ({ln['kind_label']})" if ln["kind_label"] else ""),
                f"{ln['quantity']} {ln['unit'] or ''}".strip() if ln["quantity"] is not None else "",
                ln["list"],
                ln["discount"],
                ln["due"],
            ]
            for ln in c["lines"]
        ],
        right={2, 3, 4, 5},
    )
    typer.echo(
        f"total: list {c['totals']['list']}, discount/subsidy {c['totals']['discount']}, "
        f"due {c['totals']['due']} {r.currency}"
    )
    typer.echo(
        "versions: "
        + ", ".join(
            f"v{v.version} {v.status}{' sent ' + format(v.sent_at, '%Y-%m-%d') if v.sent_at else ''}"
            for v in d.versions
        )
    )


@statements_app.command("messages")
def statements_messages(
    period: PeriodOpt,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only sent, partial, failed, in_doubt, queued or sending."),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The email log of a period: recipients and each one's outcome, statement versions,
    status, error."""
    rows = svc.message_log(context(config), period, status=status)
    if as_json:
        emit_json([m.as_json() for m in rows])
        return
    table(
        ["id", "kind", "status", "to", "cc", "statements", "tries", "resend of", "refused / error"],
        [
            [
                m.id,
                m.kind,
                m.status,
                ", ".join(m.to) or "(nobody)",
                ", ".join(m.cc),
                ", ".join(m.statements),
                m.attempts,
                m.resend_of or "",
                _problems(m)[:100],
            ]
            for m in rows
        ],
        right={0, 6},
    )


def _problems(m: svc.MessageOutcome) -> str:
    bad = [f"{r['address']} {r['status']} {r.get('reply') or ''}".strip() for r in m.recipients]
    bad = [b for b, r in zip(bad, m.recipients, strict=True) if r["status"] != "accepted"]
    return "; ".join(bad) or (m.decision or m.error or "")


@statements_app.command("resend")
def statements_resend(
    message_ids: Annotated[
        list[int] | None, typer.Argument(help="Message ids (see `statements messages`).", show_default=False)
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed or partly delivered message of the period (-p).")
    ] = False,
    in_doubt: Annotated[
        bool,
        typer.Option(
            "--in-doubt",
            help="Allow resending in-doubt messages (the PI may get two copies); with -p and no ids, "
            "every in-doubt message of the period.",
        ),
    ] = False,
    period: Annotated[str | None, typer.Option("-p", "--period", help="Billing period, YYYY-MM.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Also resend messages that were delivered.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a logged message again (same statement versions, same Message-ID) to those of
    its recipients who did not get it."""
    ctx = context(config)
    ids = list(message_ids or [])
    listed = failed or (in_doubt and not ids)
    if listed and not period:
        raise InvalidInput("--failed and --in-doubt without ids need the period (-p YYYY-MM)")
    if failed and period:
        ids += [i for i in svc.failed_messages(ctx, period) if i not in ids]
    if in_doubt and not message_ids and period:
        ids += [i for i in svc.in_doubt_messages(ctx, period) if i not in ids]
    if not ids:
        if listed:
            what = "failed or in-doubt" if failed and in_doubt else "in-doubt" if in_doubt else "failed"
            emit_json({"messages": []}) if as_json else typer.echo(f"no {what} messages in {period}")
            return
        raise InvalidInput("nothing to resend: give message ids, or --failed -p PERIOD")
    report = svc.resend_messages(ctx, ids, force=force, in_doubt=in_doubt)
    if as_json:
        emit_json(report.as_json())
    else:
        _print_delivery(report)
    if report.failed:
        raise typer.Exit(1)


NoteOpt = Annotated[str | None, typer.Option("--note", help="What the recipient said (kept in the log).")]


@statements_app.command("mark-delivered")
def statements_mark_delivered(
    message_id: Annotated[int, typer.Argument(help="An in-doubt message id.", show_default=False)],
    note: NoteOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decide an in-doubt message was delivered (after checking with the PI): its
    statements count as sent. Logged."""
    _decided(svc.decide_in_doubt(context(config), message_id, delivered=True, note=note), as_json)


@statements_app.command("mark-failed")
def statements_mark_failed(
    message_id: Annotated[int, typer.Argument(help="An in-doubt message id.", show_default=False)],
    note: NoteOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decide an in-doubt message was not delivered: it becomes failed and its statements
    are sent by the next `generate --send` (or `statements resend ID`). Logged."""
    _decided(svc.decide_in_doubt(context(config), message_id, delivered=False, note=note), as_json)


def _decided(m: svc.MessageOutcome, as_json: bool) -> None:
    if as_json:
        emit_json(m.as_json())
    else:
        typer.echo(f"message {m.id} is now {m.status}: {m.decision}")
