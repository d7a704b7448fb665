"""Exporting a period's journal, and the record of every export.

One export is one write transaction: the period's status is checked, the journal is
built and rendered from what that transaction reads, and the export is recorded
(format, file name, SHA-256, totals, who, when) with the file itself, so that it can be
downloaded again later. The file is written to disk after the commit.

Rules: only approved charges; a journal for posting needs a closed or finalized period,
and ``draft`` allows an open one (the file is marked DRAFT in its name and first line;
a draft is never the basis of a ``delta``). ``delta`` exports only the differences
against the last posted (non-draft) export of the period: a line whose amount changed
is reversed and posted again.

A duplicate posting is never silent: exporting postings (gl or a template) of a period
whose postings were exported before is refused unless ``again`` (recorded on the
export) or ``delta``. Every written file gets a control file beside it
(``NAME.control.csv``: file name, SHA-256, line count, debit and credit totals per
currency) that finance can check on receipt.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection

from openchargeback.domain import journal as dom
from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.domain.jsonable import JSON, Jsonable, to_json
from openchargeback.domain.money import ZERO
from openchargeback.domain.periods import Period, PeriodStatus
from openchargeback.rendering import journal as rendering
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.services.journal import data
from openchargeback.services.registry.allocation import allocate_in
from openchargeback.services.registry.splits import load_splits
from openchargeback.storage import journal as repo
from openchargeback.storage import registry as registry_repo
from openchargeback.storage.types import AnyRow

BUILT_IN = rendering.BUILT_IN
_FORMAT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class CurrencyTotal(Jsonable):
    currency: str
    debit: Decimal
    credit: Decimal
    charged: Decimal  # the journal's charges (the allocation's, the statements' total)


@dataclass(frozen=True)
class ExportInfo(Jsonable):
    id: int
    period: str
    sequence: int
    format: str
    file_name: str
    sha256: str
    size_bytes: int
    draft: bool
    delta: bool
    again: bool
    basis_id: int | None
    period_status: str
    rows: int
    totals: tuple[CurrencyTotal, ...]
    created_by: str
    created_at: datetime

    @property
    def balanced(self) -> bool:
        return all(t.debit == t.credit for t in self.totals)

    def as_json(self) -> dict:
        # balanced is computed, not a field
        return {**to_json(self), "balanced": self.balanced}


@dataclass(frozen=True)
class ExportResult(Jsonable):
    export: ExportInfo = field(metadata={JSON: None})
    path: str | None  # where the file was written; None when it was only recorded
    notes: tuple[str, ...] = ()
    control_path: str | None = None  # the control totals file beside it

    def as_json(self) -> dict:
        # the export's keys are flattened in
        return {**self.export.as_json(), **to_json(self)}


def _info(r) -> ExportInfo:
    totals = tuple(
        CurrencyTotal(c, Decimal(t["debit"]), Decimal(t["credit"]), Decimal(t["charged"]))
        for c, t in sorted(json.loads(r.totals).items())
    )
    return ExportInfo(
        r.id,
        r.period,
        r.sequence,
        r.format,
        r.file_name,
        r.sha256,
        r.size_bytes,
        r.draft,
        r.delta,
        r.again,
        r.basis_id,
        r.period_status,
        r.row_count,
        totals,
        r.created_by,
        r.created_at,
    )


def list_formats(ctx: Context) -> tuple[str, ...]:
    """The built-in formats and those the templates provide."""
    return BUILT_IN + rendering.template_formats(rendering.template_env(ctx.settings.journal.template_dir))


def export_journal(
    ctx: Context,
    period: str,
    fmt: str,
    output: str | Path | None = None,
    *,
    draft: bool = False,
    delta: bool = False,
    again: bool = False,
    write: bool = True,
) -> ExportResult:
    """Export the journal of ``period`` in format ``fmt``; see the module docstring.
    ``output``: a file or directory (default: ``journal.output_dir``/PERIOD/); ``write``
    False records the export without writing a file (the web). ``again``: export postings
    of a period whose postings were exported before (a second posting, recorded)."""
    name = Period.parse(period).name
    fmt, env, template, ext = _format(ctx, fmt, delta)
    cfg = ctx.settings.journal
    rules = data.rules_of(ctx.settings)
    posts = fmt == "gl" or template is not None  # gl and templates show postings
    with ctx.write() as conn:
        prow = lookup.period(conn, name)
        repo.lock_period(conn, prow.id)
        prow = lookup.period(conn, name)  # as it is now that it is held
        status = PeriodStatus(prow.status)
        posted = _refuse(conn, prow, posts, draft=draft, delta=delta, again=again)
        projects, _ = registry_repo.snapshot(conn)
        splits = load_splits(conn)
        allocation = allocate_in(conn, [prow])
        note = f"period {name} is {status.value}" if draft else None
        sequence = repo.next_sequence(conn, prow.id)
        file_name = (
            f"journal-{name}-{fmt}-{sequence:03d}{'-delta' if delta else ''}{'-DRAFT' if draft else ''}.{ext}"
        )
        now = ctx.clock()
        postings: tuple[dom.Posting, ...] = ()  # the period's postings
        # what the file shows: the postings or, with --delta, their difference from the basis
        shown: tuple[dom.Posting, ...] = ()
        basis = None
        recoveries: dict = {}
        notes: list[str] = []
        if posts:
            recoveries = data.recoveries(conn)
            postings = dom.build_postings(
                name,
                data.entries(conn, prow, projects, splits),
                recoveries,
                data.tag_codes(conn, prow.id),
                rules,
                data.statement_numbers(conn, prow.id),
            )
            data.check_total(name, postings, allocation, rules)
            shown = postings
            if posted is not None and again and not (draft or delta):
                notes.append(
                    f"exported again: export {posted.sequence} ({posted.file_name}) posted this period before"
                )
            if delta:
                basis = posted
                previous = [dom.Posting.from_json(d) for d in json.loads(basis.postings)] if basis else []
                shown = dom.delta(previous, postings, rules)
                notes.append(
                    f"differences against export {basis.sequence} ({basis.file_name})"
                    if basis
                    else "no earlier posted export of this period: the delta is the whole journal"
                )
                if basis and not shown:
                    notes.append("nothing changed since that export")
        charged = data.allocation_totals(allocation)
        target = _target(cfg.output_dir, name, file_name, output) if write else None
        sink = _Sink(target)
        try:
            if env is not None and template is not None:  # a template's format (not built in)
                context = _template_context(
                    env,
                    template,
                    conn,
                    prow,
                    status,
                    projects,
                    allocation,
                    shown,
                    recoveries,
                    sequence,
                    fmt,
                    file_name,
                    note,
                    delta,
                    basis,
                    now,
                )
                sink.add(rendering.render_template(env, template, context))
                rows = len(shown)
            elif fmt == "gl":
                currencies = sorted({p.currency for p in postings})
                if len(currencies) > 1:
                    raise InvalidInput(
                        f"period {name} has charges in {', '.join(currencies)}; the gl "
                        f"layout has no currency column: export each with a template instead"
                    )
                sink.add(rendering.render_gl(shown, note))
                rows = len(shown)
            elif fmt == "summary":
                summary = data.summary_rows(name, allocation)
                sink.add(rendering.render_summary(summary, note))
                rows = len(summary)
            else:  # standard
                counter = _Counter()
                for chunk in rendering.iter_standard(
                    counter.count(data.standard_rows(conn, prow, projects)), note
                ):
                    sink.add(chunk)
                rows, charged = counter.n, counter.charged
            compressed = sink.finish()
            totals = _totals(shown, charged)
            digest = sink.sha256.hexdigest()
            export_id = repo.add_export(
                conn,
                {
                    "period_id": prow.id,
                    "sequence": sequence,
                    "format": fmt,
                    "file_name": file_name,
                    "sha256": digest,
                    "size_bytes": sink.size,
                    "draft": draft,
                    "delta": delta,
                    "again": posted is not None and again and not (draft or delta),
                    "basis_id": basis.id if basis is not None else None,
                    "period_status": status.value,
                    "row_count": rows,
                    "totals": json.dumps({c: t.as_json() for c, t in totals.items()}),
                    "postings": json.dumps([p.as_json() for p in postings]) if posts else None,
                    "template_hash": rendering.template_hash(env, template)
                    if env is not None and template
                    else None,
                    "created_by": ctx.actor,
                    "created_at": now,
                },
                compressed,
            )
            audit.record_in(
                conn,
                ctx,
                "journal.export",
                name,
                f"{file_name} ({fmt}{', draft' if draft else ''}{', delta' if delta else ''}), "
                f"{rows} row(s), sha256 {digest}",
            )
            info = _info(_export_row(conn, export_id))
        except BaseException:
            sink.discard()
            raise
    sink.publish()  # after the commit: the file appears whole, under its final name
    control_path = None
    if target is not None:
        control_name, control = control_file(info)
        control_path = target.with_name(control_name)
        _write_whole(control_path, control)
    return ExportResult(
        info, str(target) if target else None, tuple(notes), str(control_path) if control_path else None
    )


def check_export(
    ctx: Context, period: str, fmt: str, *, draft: bool = False, delta: bool = False, again: bool = False
) -> None:
    """The refusals :func:`export_journal` meets before it builds anything (the format, the
    period's status, postings exported before): the web says them at once, before it
    queues the export as a job (which checks again, in its own transaction)."""
    name = Period.parse(period).name
    fmt, _env, template, _ext = _format(ctx, fmt, delta)
    with ctx.read() as conn:
        prow = lookup.period(conn, name)
        _refuse(conn, prow, fmt == "gl" or template is not None, draft=draft, delta=delta, again=again)


def _format(ctx: Context, fmt: str, delta: bool) -> tuple[str, Any, Any, str]:
    """(format, template environment, template, file extension): the environment and
    template for a template's format, None for a built-in one."""
    fmt = (fmt or "").strip()
    if not _FORMAT.match(fmt):
        raise InvalidInput(
            f"journal format {fmt!r}: expected standard, summary, gl or a template name "
            f"(letters, digits, - and _)"
        )
    if delta and fmt in ("standard", "summary"):
        raise InvalidInput(
            f"--delta applies to postings (gl or a template), not to the {fmt} format",
            web=f'"Only the differences" applies to postings (gl or a template), not to the {fmt} format',
        )
    if fmt in BUILT_IN:
        return fmt, None, None, "csv"
    env = rendering.template_env(ctx.settings.journal.template_dir)
    template, ext = rendering.find_template(env, fmt)
    return fmt, env, template, ext


def _refuse(
    conn: Connection, prow: AnyRow, posts: bool, *, draft: bool, delta: bool, again: bool
) -> AnyRow | None:
    """Refuse an export for posting of an open period, and a second posting that is not
    asked for; returns the period's last posted export (None when the format posts nothing)."""
    name = prow.name
    if PeriodStatus(prow.status) == PeriodStatus.OPEN and not draft:
        raise Conflict(
            f"period {name} is open; close it (`openchargeback periods close {name}`) "
            f"before exporting its journal for posting, or export a draft with --draft",
            web=f"period {name} is open: an admin closes it on the period's page before its "
            f"journal is exported for posting; until then export a draft",
        )
    if not posts:
        return None
    posted = repo.last_posted(conn, prow.id)
    if posted is not None and not (draft or delta or again):
        before = (
            f"the journal of period {name} was exported for posting before: export "
            f"{posted.sequence} ({posted.file_name}, {posted.created_at:%Y-%m-%d %H:%M} UTC by "
            f"{posted.created_by}); posting it again would post it twice. Export only the "
            f"differences"
        )
        raise Conflict(
            f"{before} with --delta, or export it again on purpose with --again",
            web=f'{before}, or tick "Again" to export it again on purpose',
        )
    return posted


def control_file(info: ExportInfo) -> tuple[str, bytes]:
    """(name, content) of an export's control totals: its file name, SHA-256, line count
    and, per currency, debit and credit totals (charged for standard and summary)."""
    stem = info.file_name.rsplit(".", 1)[0]
    return f"{stem}.control.csv", rendering.render_control(
        info.file_name,
        info.sha256,
        info.rows,
        [(t.currency, t.debit, t.credit, t.charged) for t in info.totals],
        info.format in ("standard", "summary"),
    )


def _write_whole(path: Path, content: bytes) -> None:
    """Written to a temporary name, synced and renamed: the file is whole or absent."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class _Sink:
    """Takes the file's chunks: hashes them, gzips them for the database and, given a
    path, writes them to a temporary file beside it, renamed by :meth:`publish`."""

    def __init__(self, path: Path | None):
        self.sha256, self.size, self.path = hashlib.sha256(), 0, path
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: the gzip format
        self._parts: list[bytes] = []
        self._tmp: Path | None = None
        self._fh: BinaryIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            self._fh = open(self._tmp, "wb")  # noqa: SIM115 (closed by finish or discard)

    def add(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.size += len(chunk)
        self._parts.append(self._gzip.compress(chunk))
        if self._fh is not None:
            self._fh.write(chunk)

    def finish(self) -> bytes:
        self._parts.append(self._gzip.flush())
        if self._fh is not None:
            self._fh.close()
        return b"".join(self._parts)

    def publish(self) -> None:
        if self._tmp is not None and self.path is not None:
            os.replace(self._tmp, self.path)

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


class _Counter:
    def __init__(self):
        self.n, self.charged = 0, {}

    def count(self, rows):
        for r in rows:
            self.n += 1
            self.charged[r["currency"]] = self.charged.get(r["currency"], ZERO) + r["charged"]
            yield r


def _totals(postings, charged: dict[str, Decimal]) -> dict[str, CurrencyTotal]:
    sums = dom.totals(postings or [])
    out = {}
    for c in sorted(set(sums) | set(charged)):
        s = sums.get(c, {"debit": ZERO, "credit": ZERO})
        out[c] = CurrencyTotal(c, s["debit"], s["credit"], charged.get(c, ZERO))
    return out


def _template_context(
    env,
    template,
    conn,
    prow,
    status,
    projects,
    allocation,
    postings,
    recoveries,
    sequence,
    fmt,
    file_name,
    note,
    delta,
    basis,
    now,
) -> dict:
    wanted = rendering.needs(env, template)
    context = {
        "period": {"name": prow.name, "start": prow.starts_at, "end": prow.ends_at, "status": status.value},
        "export": {
            "name": file_name.rsplit(".", 1)[0],
            "file_name": file_name,
            "format": fmt,
            "sequence": sequence,
            "draft": note is not None,
            "draft_note": note or "",
            "delta": delta,
            "basis": {
                "sequence": basis.sequence,
                "file_name": basis.file_name,
                "created_at": basis.created_at,
            }
            if basis
            else None,
            "created_at": now,
        },
        "postings": [data.posting_dict(p) for p in postings],
        "sources": data.source_totals(postings, recoveries),
        "totals": {c: t for c, t in dom.totals(postings).items()},
        "summary": data.summary_rows(prow.name, allocation),
    }
    if wanted is None or "charges" in wanted:
        context["charges"] = list(data.standard_rows(conn, prow, projects))
    return context


def _target(output_dir: str, period: str, file_name: str, output: str | Path | None) -> Path:
    if output is None:
        return Path(output_dir) / period / file_name
    out = Path(output)
    return out / file_name if out.is_dir() else out


# -- the record ------------------------------------------------------------------------------------
def list_exports(ctx: Context, period: str | None = None) -> tuple[ExportInfo, ...]:
    with ctx.read() as conn:
        period_id = None
        if period:
            period_id = lookup.period(conn, period).id
        return tuple(_info(r) for r in repo.listing(conn, period_id))


def _export_row(conn: Connection, export_id: int) -> AnyRow:
    row = repo.get(conn, export_id)
    if row is None:
        raise NotFound(f"journal export {export_id} does not exist")
    return row


def get_export(ctx: Context, export_id: int) -> ExportInfo:
    with ctx.read() as conn:
        return _info(_export_row(conn, export_id))


def export_file(ctx: Context, export_id: int) -> tuple[ExportInfo, bytes]:
    """An earlier export's file exactly as written (its SHA-256 checked)."""
    with ctx.read() as conn:
        row = _export_row(conn, export_id)
        stored = repo.content(conn, export_id)
    if stored is None:
        raise Conflict(f"journal export {export_id} ({row.file_name}): its stored file is missing")
    content = gzip.decompress(stored)
    if hashlib.sha256(content).hexdigest() != row.sha256:
        raise Conflict(
            f"journal export {export_id} ({row.file_name}): the stored file does not match "
            f"its recorded SHA-256 {row.sha256}"
        )
    return _info(row), content
