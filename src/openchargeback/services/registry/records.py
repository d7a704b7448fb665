"""The registry of PIs, projects and funds/orgs: list, add, edit, import and export CSV.

Records come in as text (CLI options, CSV cells, web form fields) and are validated by
:mod:`openchargeback.domain.registry`. A project's PI and default fund must be
registered. An import is all or nothing: every bad row is reported with its line number
and nothing is written; good rows add new records and update existing ones (a column
left out of the file keeps the stored value, an empty cell clears it).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from openchargeback.domain import registry as reg
from openchargeback.domain.errors import Conflict, FileRefused, InvalidInput, NotFound
from openchargeback.domain.jsonable import Jsonable
from openchargeback.rendering import csv_safe
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.storage import registry as repo

SHOWN_PROBLEMS = 50


@dataclass(frozen=True)
class ImportReport(Jsonable):
    kind: str
    file: str
    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: int


def _kind(kind: str) -> str:
    if kind not in reg.KINDS:
        raise InvalidInput(f"unknown registry kind {kind!r}: expected {', '.join(reg.KINDS)}")
    return kind


def _record(kind: str, values: Mapping[str, Any]) -> reg.Record:
    return reg.RECORDS[kind](**values)


def _stored(conn: Connection, kind: str, key: str) -> reg.Record:
    """The stored record of that key; NotFound when it is not in the registry."""
    row = repo.get(conn, kind, key)
    if row is None:
        raise NotFound(f"{reg.NOUN[kind]} {key!r} is not in the registry")
    return _record(kind, row)


def _values(record) -> dict:
    return {name: getattr(record, name) for name in reg.columns(_kind_of(record))}


def _kind_of(record) -> str:
    return next(k for k, cls in reg.RECORDS.items() if isinstance(record, cls))


def _key(kind: str, key: str) -> str:
    key = (key or "").strip()
    return key.lower() if kind == "pis" else key


def list_records(ctx: Context, kind: str, **where) -> tuple:
    """Records of a kind in key order; ``where``: column=value filters (None ignored)."""
    kind = _kind(kind)
    with ctx.read() as conn:
        return tuple(_record(kind, r) for r in repo.list_all(conn, kind, **where))


def get_record(ctx: Context, kind: str, key: str):
    kind = _kind(kind)
    with ctx.read() as conn:
        row = repo.get(conn, kind, _key(kind, key))
    if row is None:
        raise NotFound(f"{reg.NOUN[kind]} {key!r} is not in the registry")
    return _record(kind, row)


def _references(conn: Connection, kind: str, records: Sequence[reg.Record]) -> list[tuple[reg.Project, str]]:
    """(record, problem) for PIs and funds that projects name but are not registered."""
    if kind != "projects":
        return []
    projects = [r for r in records if isinstance(r, reg.Project)]
    pis = repo.existing_keys(conn, "pis", sorted({r.pi_email for r in projects}))
    funds = repo.existing_keys(conn, "funds", sorted({r.default_fund for r in projects if r.default_fund}))
    out: list[tuple[reg.Project, str]] = []
    for r in projects:
        if r.pi_email not in pis:
            out.append(
                (
                    r,
                    f"project {r.project_id}: PI {r.pi_email} is not in the registry "
                    f"(add the PI, or import the PIs first)",
                )
            )
        if r.default_fund and r.default_fund not in funds:
            out.append(
                (
                    r,
                    f"project {r.project_id}: default fund {r.default_fund} is not in the "
                    f"registry (add the fund, or import the funds first)",
                )
            )
    return out


def add_record(ctx: Context, kind: str, values: Mapping[str, str | None]):
    """Add one record from text values (key included)."""
    kind = _kind(kind)
    record = reg.build(kind, values)
    key = getattr(record, reg.KEYS[kind])
    with ctx.write() as conn:
        if repo.get(conn, kind, key) is not None:
            raise Conflict(
                f"{reg.NOUN[kind]} {key} is already in the registry; "
                f"change it with `openchargeback {kind} edit {key}`"
            )
        problems = _references(conn, kind, [record])
        if problems:
            raise NotFound(problems[0][1])
        repo.insert_record(conn, kind, _values(record), ctx.actor, ctx.clock())
        audit.record_in(conn, ctx, f"registry.{kind}.add", key, json.dumps(reg.as_text(kind, record)))
    return record


def edit_record(ctx: Context, kind: str, key: str, values: Mapping[str, str | None]):
    """Change the given fields of one record (empty text clears a field)."""
    kind = _kind(kind)
    key = _key(kind, key)
    if reg.KEYS[kind] in values:
        raise InvalidInput(f"the {reg.KEYS[kind]} of a {reg.NOUN[kind]} cannot be changed")
    if not values:
        raise InvalidInput(f"nothing to change for {reg.NOUN[kind]} {key}: give at least one field")
    with ctx.write() as conn:
        before = _stored(conn, kind, key)
        after = reg.build(kind, values, base=before)
        problems = _references(conn, kind, [after])
        if problems:
            raise NotFound(problems[0][1])
        repo.update_record(conn, kind, key, _values(after), ctx.actor, ctx.clock())
        audit.record_in(
            conn,
            ctx,
            f"registry.{kind}.edit",
            key,
            json.dumps({"before": reg.as_text(kind, before), "after": reg.as_text(kind, after)}),
        )
    return after


def import_csv(ctx: Context, kind: str, path: str | Path) -> ImportReport:
    """Add or update records from a CSV file whose header names the record fields."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: file not found") from None
    return import_bytes(ctx, kind, path.name, data)


def import_bytes(ctx: Context, kind: str, name: str, data: bytes) -> ImportReport:
    """As :func:`import_csv`, for the content of a file named ``name`` (a web upload)."""
    kind = _kind(kind)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows, problems = _parse_rows(kind, name, text)
    with ctx.write() as conn:
        keys = [k for k, _, _ in rows]
        existing = {k: _stored(conn, kind, k) for k in repo.existing_keys(conn, kind, keys)}
        records, lines = [], {}
        for key, line, values in rows:
            try:
                rec = reg.build(kind, values, base=existing.get(key))
            except InvalidInput as exc:
                problems.append((line, f"{name}:{line}: {exc.message}"))
                continue
            records.append(rec)
            lines[key] = line
        for rec, problem in _references(conn, kind, records):
            line = lines[getattr(rec, reg.KEYS[kind])]
            problems.append((line, f"{name}:{line}: {problem}"))
        if problems:
            problems.sort()
            shown = "\n".join("  " + p for _, p in problems[:SHOWN_PROBLEMS])
            more = len(problems) - SHOWN_PROBLEMS
            raise FileRefused(
                f"{name}: {len(problems)} problem(s); nothing was imported:\n{shown}"
                + (f"\n  ... and {more} more" if more > 0 else ""),
                problems=[p for _, p in problems],
            )
        added, updated, same = [], [], 0
        now = ctx.clock()
        for rec in records:
            key = getattr(rec, reg.KEYS[kind])
            if key not in existing:
                repo.insert_record(conn, kind, _values(rec), ctx.actor, now)
                added.append(key)
            elif rec != existing[key]:
                repo.update_record(conn, kind, key, _values(rec), ctx.actor, now)
                updated.append(key)
            else:
                same += 1
        audit.record_in(
            conn,
            ctx,
            f"registry.{kind}.import",
            name,
            f"{len(added)} added, {len(updated)} updated, {same} unchanged",
        )
    return ImportReport(kind, name, tuple(added), tuple(updated), same)


def _parse_rows(kind: str, name: str, text: str):
    """(key, line, text values) per data row, and problems as (line, message)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise FileRefused(
            f"{name}: the file is empty; expected a header with {', '.join(reg.columns(kind))}"
        ) from None
    except csv.Error as exc:
        raise FileRefused(f"{name}:1: not valid CSV ({exc})") from None
    key = reg.KEYS[kind]
    unknown = [h for h in header if h not in reg.columns(kind)]
    if unknown or key not in header or len(set(header)) != len(header):
        why = (
            f"unknown column(s) {', '.join(unknown)}"
            if unknown
            else f"no {key} column"
            if key not in header
            else "a column is named twice"
        )
        raise FileRefused(
            f"{name}:1: {why}; expected columns among {', '.join(reg.columns(kind))} (with {key})"
        )
    rows: list[tuple[str, int, dict[str, str]]] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((line, f"{name}:{line}: not valid CSV ({exc})"))
            break
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append((start, f"{name}:{start}: {len(cells)} cell(s), the header has {len(header)}"))
            continue
        values = dict(zip(header, (_unquote(c) for c in cells), strict=True))
        k = _key(kind, values[key])
        if not k:
            problems.append((start, f"{name}:{start}: {key} is empty"))
            continue
        values[key] = k
        if k in seen:
            problems.append((start, f"{name}:{start}: {key} {k} is also on line {seen[k]}"))
            continue
        seen[k] = start
        rows.append((k, start, values))
    return rows, problems


def export_csv(ctx: Context, kind: str, *, formula_safe: bool = False) -> str:
    """Every record of a kind as CSV text (the format `import` reads). ``formula_safe``
    (web downloads): a cell a spreadsheet would run as a formula gets a leading ``'``,
    which `import` removes again."""
    kind = _kind(kind)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=reg.columns(kind), lineterminator="\n")
    w.writeheader()
    for rec in list_records(ctx, kind):
        row = reg.as_text(kind, rec)
        w.writerow({k: csv_safe.cell(v) for k, v in row.items()} if formula_safe else row)
    return buf.getvalue()


def _unquote(cell: str) -> str:
    """A cell neutralised by a formula-safe export, back to its text."""
    return cell[1:] if cell.startswith("'") and cell[1:2] and cell[1] in "=+-@\t\r" else cell


def snapshot(conn) -> reg.RegistrySnapshot:
    """What ingest checks charges against (read inside the caller's transaction)."""
    projects, funds = repo.snapshot(conn)
    return reg.RegistrySnapshot(projects, funds)


def billing_contacts(ctx: Context, pi_emails: list[str]) -> dict[str, tuple[str, ...]]:
    """PI email -> the billing contacts to copy on their statements (registered PIs only)."""
    emails = sorted({e.strip().lower() for e in pi_emails if e})
    if not emails:
        return {}
    with ctx.read() as conn:
        return repo.contacts(conn, emails)
