"""Reading statements back: lists, one statement with its versions, its documents, its
HTML preview (the same template as the PDF), and the email log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from openchargeback.domain.errors import NotFound
from openchargeback.domain.jsonable import JSON, Jsonable, to_json
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.statements.render import context_for, renderer_for
from openchargeback.storage import statements as store
from openchargeback.storage.types import AnyRow


@dataclass(frozen=True)
class StatementRow(Jsonable):
    id: int = field(metadata={JSON: None})
    number: str
    version: int
    kind: str
    pi_email: str | None
    project_id: str | None
    currency: str
    status: str
    list_total: Decimal = field(metadata={JSON: "list"})
    discount_total: Decimal = field(metadata={JSON: "discount"})
    due_total: Decimal = field(metadata={JSON: "due"})
    charge_count: int = field(metadata={JSON: "charges"})
    generated_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class StatementDetail(Jsonable):
    period: str
    row: StatementRow = field(metadata={JSON: None})
    data: dict = field(metadata={JSON: "content"})
    versions: tuple[StatementRow, ...]
    has_detail_csv: bool = field(metadata={JSON: "detail_csv"})

    def as_json(self) -> dict:
        # the row's keys are flattened in after the period
        return {"period": self.period, **self.row.as_json(), **to_json(self)}


def _row(r) -> StatementRow:
    return StatementRow(
        r.id,
        r.number,
        r.version,
        r.kind,
        r.pi_email,
        r.project_id,
        r.currency,
        r.status,
        r.list_total,
        r.discount_total,
        r.due_total,
        r.charge_count,
        r.generated_at,
        r.sent_at,
    )


def _period_id(conn, period: str) -> int:
    return int(lookup.period(conn, period).id)


def list_statements(
    ctx: Context,
    period: str,
    *,
    pi: str | None = None,
    project: str | None = None,
    all_versions: bool = False,
) -> tuple[StatementRow, ...]:
    with ctx.read() as conn:
        pid = _period_id(conn, period)
        return tuple(
            _row(r) for r in store.listing(conn, pid, pi=pi, project=project, all_versions=all_versions)
        )


def _find(conn: Connection, number: str, version: int | None) -> AnyRow:
    r = store.by_number(conn, number.strip(), version)
    if r is None:
        which = f" version {version}" if version else ""
        raise NotFound(
            f"statement {number}{which} does not exist (see `openchargeback statements list`)",
            web=f"statement {number}{which} does not exist",
        )
    return r


def _document(conn: Connection, r: AnyRow) -> AnyRow:
    """The stored PDF (and detail CSV) of a version; every version stores one."""
    doc = store.document(conn, r.id)
    if doc is None:
        raise NotFound(f"statement {r.number} v{r.version} has no stored document")
    return doc


def get_statement(ctx: Context, number: str, version: int | None = None) -> StatementDetail:
    with ctx.read() as conn:
        r = _find(conn, number, version)
        doc = _document(conn, r)
        versions = tuple(_row(v) for v in store.versions(conn, r.number))
        return StatementDetail(r.period, _row(r), json.loads(r.data), versions, doc.detail_csv is not None)


def statement_file(
    ctx: Context, number: str, version: int | None = None, *, kind: str = "pdf"
) -> tuple[str, bytes]:
    """(file name, bytes) of a version's PDF as issued, or of its detail CSV (``kind="csv"``)."""
    with ctx.read() as conn:
        r = _find(conn, number, version)
        doc = _document(conn, r)
    if kind == "csv":
        if doc.detail_csv is None:
            raise NotFound(f"statement {r.number} v{r.version} shows all its detail; it has no CSV")
        return f"{r.number}-v{r.version}-detail.csv", bytes(doc.detail_csv)
    return f"{r.number}-v{r.version}.pdf", bytes(doc.pdf)


def preview_html(ctx: Context, number: str, version: int | None = None) -> str:
    """The version's HTML, rendered from its stored content with the statement template
    (a superseded version shows as such)."""
    with ctx.read() as conn:
        r = _find(conn, number, version)
    renderer = renderer_for(ctx.settings)
    data = json.loads(r.data)
    if r.superseded_by_id is not None:
        with ctx.read() as conn:
            newer = store.by_ids(conn, [r.superseded_by_id])
        data = dict(data, superseded_by=newer[0].version if newer else None)
    return renderer.statement_html(context_for(renderer, data, status=r.status))
