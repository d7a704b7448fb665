"""Generating a period's statements from its approved charges.

A real run needs the period closed. It reads the approved charges (one read
transaction), builds and renders the statements that are new or changed (no
transaction is held while PDFs are printed), then stores them in one write
transaction, which first checks that the period is still closed and unchanged since it
was read, and that nobody stored statements in between. ``dry_run`` works on any period
and writes nothing but previews in a new temporary directory.

Issued documents never change. A finalized period is locked: nothing is rendered, made
or stored. Versions: a statement whose content (and rendering) is unchanged keeps its
version and its stored PDF; a changed one gets a new version under the same number and
the old version is marked superseded (it stays downloadable); a statement with nothing
left to bill is marked withdrawn. Each version records the hash of the templates and
branding it was rendered with and the software version that rendered it.

Files: after the commit (and on a finalized period, instead of anything else) the output
directory is reconciled with the database (:mod:`.files`): every current version's PDF
and CSV is written from the stored bytes when it is missing or differs, so that a crash
or a full disk while writing files is repaired by the next run.

Where the lines come from: :func:`_lines`, the one place to change when statements
take their lines from the allocation of charges to funds.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from openchargeback import __version__
from openchargeback.domain import statements as dom
from openchargeback.domain.errors import Conflict
from openchargeback.domain.jsonable import JSON, Jsonable, to_json
from openchargeback.domain.money import ZERO, to_str
from openchargeback.domain.periods import Period, PeriodStatus
from openchargeback.rendering import statements as rendering
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.services.journal.data import funded_subsidies
from openchargeback.services.statements import content, files
from openchargeback.services.statements.lines import statement_rows
from openchargeback.services.statements.render import render_pdfs, renderer_for
from openchargeback.storage import allocation as lines_repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import registry as registry_repo
from openchargeback.storage import statements as store

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class StatementItem(Jsonable):
    number: str
    version: int
    kind: str
    pi_email: str | None
    project_id: str | None
    currency: str
    list_total: Decimal = field(metadata={JSON: "list"})
    discount_total: Decimal = field(metadata={JSON: "discount"})
    due_total: Decimal = field(metadata={JSON: "due"})
    charge_count: int = field(metadata={JSON: "charges"})
    action: str  # new | new_version | unchanged | withdrawn | preview
    path: str | None = None


@dataclass(frozen=True)
class Excluded(Jsonable):
    count: int
    amounts: tuple[tuple[str, Decimal], ...]

    def as_json(self) -> dict:
        # amounts stay (currency, amount) pairs (the CLI unpacks them); the JSON shows a dict
        return {**to_json(self), "amounts": {c: to_str(a) for c, a in self.amounts}}


@dataclass(frozen=True)
class GenerateResult(Jsonable):
    period: str
    status: str
    dry_run: bool
    directory: str | None  # output directory, or the preview directory of a dry run
    statements: tuple[StatementItem, ...]
    pending: Excluded = field(metadata={JSON: None})
    rejected: Excluded = field(metadata={JSON: None})
    approved_totals: tuple[tuple[str, Decimal], ...] = field(
        metadata={JSON: "totals"}
    )  # currency -> project statements
    delivery: Jsonable | None = field(metadata={JSON: None}, default=None)
    notes: tuple[str, ...] = field(default_factory=tuple)
    # files of versions made before this run that were missing or damaged and were
    # rewritten from the database
    restored: tuple[str, ...] = field(default_factory=tuple)

    def count(self, action: str) -> int:
        return sum(1 for s in self.statements if s.action == action)

    def as_json(self) -> dict:
        # pending and rejected nest under "excluded"; totals as in Excluded; delivery only when made
        out = {
            **to_json(self),
            "totals": {c: to_str(a) for c, a in self.approved_totals},
            "excluded": {"pending": self.pending.as_json(), "rejected": self.rejected.as_json()},
        }
        if self.delivery is not None:
            out["delivery"] = self.delivery.as_json()
        return out


def _lines(
    ctx: Context, conn, period_row, pi: str | None, project: str | None
) -> tuple[list[dict], list[dict], dict]:
    """What statements are built from: (service lines, detail rows, registry names), from
    the allocation of the approved charges and adjustments to funds; a line of a source
    whose subsidy is funded names who pays it."""
    funded = funded_subsidies(ctx.settings)
    return statement_rows(conn, period_row, pi=pi, project=project, funded=funded)


def _excluded(raw: dict) -> Excluded:
    return Excluded(raw["count"], tuple(sorted(raw["amounts"].items())))


def refuse_open(name: str, status: PeriodStatus) -> None:
    """Statements are issued from a closed (or finalized) period only."""
    if status == PeriodStatus.OPEN:
        raise Conflict(
            f"period {name} is open; close it (`openchargeback periods close {name}`) "
            f"before generating statements, or preview them with --dry-run",
            web=f"period {name} is open: statements are generated once an admin has closed it "
            f"on the period's page",
        )


def generate(
    ctx: Context,
    period: str,
    *,
    dry_run: bool = False,
    pi: str | None = None,
    project: str | None = None,
    progress: Progress | None = None,
) -> GenerateResult:
    name = Period.parse(period).name
    cfg = ctx.settings.statements
    with ctx.read() as conn:
        prow = lookup.period(conn, name)
        status = PeriodStatus(prow.status)
        if not dry_run:
            refuse_open(name, status)
        excluded = lines_repo.excluded(conn, prow.id, pi=pi, project=project)
        issued = None
        if not dry_run and status == PeriodStatus.FINALIZED:  # locked: its files only
            issued = (
                store.current(conn, prow.id, pi=pi, project=project),
                store.current_files(conn, prow.id, pi=pi, project=project),
            )
        else:
            transitions = periods_repo.transitions(conn, prow.id)
            history = len(transitions)
            service_rows, detail_rows, names = _lines(ctx, conn, prow, pi, project)
            projects, _ = registry_repo.snapshot(conn)
            references = content.references_by_statement(store.references(conn, prow.id), projects)
            fund_descriptions = {f["code"]: f["description"] for f in registry_repo.list_all(conn, "funds")}
            existing = {
                (r.kind, r.pi_email, r.project_id, r.currency): r
                for r in store.current(conn, prow.id, pi=pi, project=project)
            }
            numbers, top = store.numbers(conn, prow.id)
    if issued is not None:
        return _as_issued(ctx, prow, *issued, excluded)
    renderer = renderer_for(ctx.settings)
    drafts = dom.project_drafts(service_rows, detail_rows, cfg.detail_line_limit)
    approved_totals: dict[str, Decimal] = {}
    for d in drafts:
        approved_totals[d.key.currency] = approved_totals.get(d.key.currency, ZERO) + d.due_total
    if cfg.per_pi_summary and project is None:
        drafts += dom.pi_summaries(drafts)
    content.add_to(drafts, names, references, content.reference_labels(ctx.settings), fund_descriptions)
    drafts.sort(key=lambda d: d.key.sort_key)

    now = ctx.clock()
    closed = next((t.at for t in reversed(transitions) if t.to_status == PeriodStatus.CLOSED.value), None)
    period_info = {
        "name": name,
        "start": prow.starts_at.isoformat(),
        "end": prow.ends_at.isoformat(),
        "closed": closed.isoformat() if closed is not None else None,  # None: a dry run of an open period
    }
    planned, items = [], []
    for d in drafts:
        k = d.key
        csv_rows = d.detail_rows
        digest = dom.content_hash(
            d.data, renderer.template_hash, json.dumps(csv_rows, default=str) if csv_rows else ""
        )
        cur = existing.get((k.kind, k.pi_email, k.project_id, k.currency))
        if cur is not None and cur.content_hash == digest and not dry_run:
            items.append(_item(cur.number, cur.version, d, "unchanged"))
            continue
        if (k.kind, k.pi_email, k.project_id, k.currency) in numbers:
            number, seq, last = numbers[(k.kind, k.pi_email, k.project_id, k.currency)]
        else:
            top += 1
            number, seq, last = dom.statement_number(cfg.number_prefix, name, top), top, 0
            numbers[(k.kind, k.pi_email, k.project_id, k.currency)] = (number, seq, last)
        action = "preview" if dry_run else ("new_version" if cur is not None else "new")
        planned.append((d, number, seq, last + 1, digest, cur))
        items.append(_item(number, last + 1, d, action))
    by_key = {k: v[0] for k, v in numbers.items()}
    docs = []
    for d, number, _seq, version, _digest, cur in planned:
        data = dict(
            d.data,
            number=number,
            version=version,
            status="current",
            issued=now.isoformat(),
            period=period_info,
            detail_attachment=f"{number}-v{version}-detail.csv" if d.detail_rows else None,
            supersedes={"version": cur.version, "issued": cur.generated_at.isoformat()}
            if cur is not None
            else None,
            superseded_by=None,
        )
        if d.key.kind == "pi":
            data["projects"] = [
                dict(p, number=by_key.get(("project", d.key.pi_email, p["project_id"], d.key.currency)))
                for p in data["projects"]
            ]
        docs.append(data)
    pdfs = render_pdfs(ctx.settings, docs, progress)
    csvs = [
        rendering.detail_csv(data["number"], p[0].detail_rows) if p[0].detail_rows else None
        for data, p in zip(docs, planned, strict=True)
    ]
    pending, rejected = _excluded(excluded["pending"]), _excluded(excluded["rejected"])
    totals = tuple(sorted(approved_totals.items()))

    if dry_run:
        directory = Path(tempfile.mkdtemp(prefix=f"openchargeback-preview-{name}-"))
        paths = _write_files(directory, docs, pdfs, csvs)
        items = [replace(it, path=paths.get((it.number, it.version))) for it in items]
        return GenerateResult(
            name,
            status.value,
            True,
            str(directory),
            tuple(items),
            pending,
            rejected,
            totals,
            notes=("preview only: nothing was stored",),
        )

    seen = {(d.key.kind, d.key.pi_email, d.key.project_id, d.key.currency) for d in drafts}
    gone = [r for k, r in existing.items() if k not in seen and not (project is not None and k[0] == "pi")]
    with ctx.write() as conn:
        prow2 = lookup.period(conn, name)
        moved = len(periods_repo.transitions(conn, prow2.id)) != history
        if prow2.status != PeriodStatus.CLOSED.value or moved:
            changed = (
                f"period {name} changed while its statements were being generated (it is now {prow2.status})"
            )
            raise Conflict(f"{changed}; run the command again", web=f"{changed}; generate them again")
        now_current = {r.id for r in store.current(conn, prow.id, pi=pi, project=project)}
        if now_current != {r.id for r in existing.values()}:
            raced = f"statements of period {name} were generated by someone else meanwhile"
            raise Conflict(f"{raced}; run the command again", web=f"{raced}; generate them again")
        for (d, number, seq, version, digest, cur), data, pdf, csv_bytes in zip(
            planned, docs, pdfs, csvs, strict=True
        ):
            sid = store.add(
                conn,
                {
                    "number": number,
                    "version": version,
                    "sequence": seq,
                    "period_id": prow.id,
                    "kind": d.key.kind,
                    "pi_email": d.key.pi_email,
                    "project_id": d.key.project_id,
                    "currency": d.key.currency,
                    "status": "current",
                    "list_total": d.list_total,
                    "discount_total": d.discount_total,
                    "due_total": d.due_total,
                    "charge_count": d.charge_count,
                    "line_count": d.line_count,
                    "content_hash": digest,
                    "template_hash": renderer.template_hash,
                    "software_version": __version__,
                    "data": json.dumps(data, sort_keys=True),
                    "generated_by": ctx.actor,
                    "generated_at": now,
                },
                pdf,
                csv_bytes,
            )
            if cur is not None:
                store.retire(conn, cur.id, "superseded", sid, now)
        for r in gone:
            store.retire(conn, r.id, "withdrawn", None, now)
            items.append(dom_item(r, "withdrawn"))
        made = sum(1 for it in items if it.action in ("new", "new_version"))
        audit.record_in(
            conn,
            ctx,
            "statements.generate",
            name,
            f"{made} new or new versions, {len(gone)} withdrawn"
            + (f" (pi={pi})" if pi else "")
            + (f" (project={project})" if project else ""),
        )
    directory = Path(cfg.output_dir) / name
    fresh = {f"{d['number']}-v{d['version']}{suffix}" for d in docs for suffix in (".pdf", "-detail.csv")}
    restored = tuple(n for n in _reconcile(ctx, prow, pi, project) if n not in fresh)
    items = [it if it.action == "withdrawn" else replace(it, path=_pdf_path(directory, it)) for it in items]
    return GenerateResult(
        name,
        status.value,
        False,
        str(directory),
        tuple(items),
        pending,
        rejected,
        totals,
        notes=_restored_note(restored),
        restored=restored,
    )


def _reconcile(ctx: Context, prow: Any, pi: str | None, project: str | None) -> tuple[str, ...]:
    with ctx.read() as conn:
        rows = store.current_files(conn, prow.id, pi=pi, project=project)
    return files.reconcile(ctx, prow.name, rows)


def _pdf_path(directory: Path, it: Any) -> str:
    return str(directory / f"{it.number}-v{it.version}.pdf")  # what reconcile keeps there


def _restored_note(restored: tuple[str, ...]) -> tuple[str, ...]:
    if not restored:
        return ()
    return (
        f"{len(restored)} file(s) missing or damaged in the output directory were restored from the database",
    )


def _item(number: str, version: int, d: dom.Draft, action: str) -> StatementItem:
    k = d.key
    return StatementItem(
        number,
        version,
        k.kind,
        k.pi_email,
        k.project_id,
        k.currency,
        d.list_total,
        d.discount_total,
        d.due_total,
        d.charge_count,
        action,
    )


def dom_item(r, action: str) -> StatementItem:
    return StatementItem(
        r.number,
        r.version,
        r.kind,
        r.pi_email,
        r.project_id,
        r.currency,
        r.list_total,
        r.discount_total,
        r.due_total,
        r.charge_count,
        action,
    )


def _write_files(directory: Path, docs: list[dict], pdfs: list[bytes], csvs: list[bytes | None]) -> dict:
    """A dry run's previews, in a new temporary directory."""
    out = {}
    for data, pdf, csv_bytes in zip(docs, pdfs, csvs, strict=True):
        path = directory / f"{data['number']}-v{data['version']}.pdf"
        path.write_bytes(pdf)
        out[(data["number"], data["version"])] = str(path)
        if csv_bytes is not None and data.get("detail_attachment"):
            (directory / data["detail_attachment"]).write_bytes(csv_bytes)
    return out


def _as_issued(
    ctx: Context, prow: Any, rows: Sequence[Any], file_rows: Sequence[Any], excluded: dict
) -> GenerateResult:
    """A finalized period: nothing is rendered or made; its issued files are written
    where missing or damaged, from the stored bytes."""
    restored = files.reconcile(ctx, prow.name, file_rows)
    directory = Path(ctx.settings.statements.output_dir) / prow.name
    items = tuple(replace(dom_item(r, "unchanged"), path=_pdf_path(directory, r)) for r in rows)
    totals: dict[str, Decimal] = {}
    for r in rows:
        if r.kind == "project":
            totals[r.currency] = totals.get(r.currency, ZERO) + r.due_total
    return GenerateResult(
        prow.name,
        prow.status,
        False,
        str(directory),
        items,
        _excluded(excluded["pending"]),
        _excluded(excluded["rejected"]),
        tuple(sorted(totals.items())),
        notes=(
            f"period {prow.name} is finalized: its {len(rows)} issued statement(s) are kept as "
            f"issued; nothing was rendered or made",
            *_restored_note(restored),
        ),
        restored=restored,
    )
