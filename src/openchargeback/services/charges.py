"""Listing charges: the CLI's pages by id (:func:`list_charges`), the web charge browser's
filtered, sorted pages with the set's totals (:func:`page`), one charge in full
(:func:`detail`) and CSV export of a filtered set. Every listing is the one charges
query, :func:`openchargeback.storage.charges.page` (the review queue uses it too)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from openchargeback.domain.charges import describe_flags
from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.jsonable import JSON, Jsonable
from openchargeback.domain.money import ZERO, to_str
from openchargeback.domain.periods import Period
from openchargeback.domain.scope import ALL, Scope
from openchargeback.rendering import csv_safe
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.storage import aggregates as agg
from openchargeback.storage import charges as repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import sources as sources_repo

if TYPE_CHECKING:
    from openchargeback.services.insights import Costs

PAGE = 50
EXPORT_CHUNK = 5000
SORTS = ("file", *repo.SORTS)
COST_CHAIN = (
    ("ListCost", "list_cost"),
    ("ContractedCost", "contracted_cost"),
    ("EffectiveCost", "effective_cost"),
    ("BilledCost", "billed_cost"),
)


def _flags(text: str | None) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()


# -- the CLI listing: by id, --after the last id ----------------------------------------------
@dataclass(frozen=True)
class ChargeView(Jsonable):
    id: int
    period: str
    source: str
    import_id: int
    line: int
    service_name: str | None
    resource_id: str | None
    charge_period_start: datetime
    charge_period_end: datetime
    currency: str
    billed_cost: Decimal
    effective_cost: Decimal | None
    list_cost: Decimal | None
    contracted_cost: Decimal | None
    pi_email: str | None
    project_id: str | None
    fund_org: str | None
    flags: tuple[str, ...]
    flag_reasons: tuple[str, ...]
    tags: str | None = field(metadata={JSON: None})  # as stored: JSON text
    tag_values: dict[str, Any] | None = field(metadata={JSON: "tags"})


@dataclass(frozen=True)
class ChargePage:
    charges: tuple[ChargeView, ...]
    next_after: int | None  # pass as after_id for the next page


def _view(r: Any) -> ChargeView:
    return ChargeView(
        r.id,
        r.period,
        r.source,
        r.import_id,
        r.line,
        r.service_name,
        r.resource_id,
        r.charge_period_start,
        r.charge_period_end,
        r.billing_currency,
        r.billed_cost,
        r.effective_cost,
        r.list_cost,
        r.contracted_cost,
        r.pi_email,
        r.project_id,
        r.fund_org,
        _flags(r.flags),
        tuple(describe_flags(r.flags or "")),
        r.tags,
        json.loads(r.tags) if r.tags else None,
    )


def list_charges(
    ctx: Context,
    *,
    period: str | None = None,
    source: str | None = None,
    pi: str | None = None,
    project: str | None = None,
    fund: str | None = None,
    flagged: bool | None = None,
    after_id: int | None = None,
    limit: int = 100,
    scope: Scope = ALL,
) -> ChargePage:
    pis = scope.narrow(pi)
    if pis == ():
        return ChargePage((), None)
    with ctx.read() as conn:
        period_id = source_id = None
        if period:
            row = periods_repo.get(conn, Period.parse(period).name)
            if row is None:
                return ChargePage((), None)
            period_id = row.id
        if source:
            source_id = lookup.source(conn, source).id
        f = repo.ChargeFilter(
            period_id=period_id,
            source_id=source_id,
            pi_email=pi,
            project_id=project,
            fund_org=fund,
            flagged=flagged,
            pi_emails=pis,
        )
        rows = repo.page(
            conn, f, order="id", after=(after_id,) if after_id is not None else None, limit=limit + 1
        )
    views = tuple(_view(r) for r in rows[:limit])
    return ChargePage(views, views[-1].id if len(rows) > limit else None)


# -- the web charge browser: sorted pages by an opaque cursor, with the set's totals -----------
@dataclass(frozen=True)
class Query:
    period: str | None = None
    source: str | None = None
    pi: str | None = None  # "": charges without one (likewise project, fund, service)
    project: str | None = None
    fund: str | None = None
    service: str | None = None
    flagged: bool | None = None
    text: str | None = None
    sort: str = "file"
    desc: bool = False
    after: str | None = None  # opaque cursor from the previous page

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise InvalidInput(f"sort {self.sort!r}: expected one of {', '.join(SORTS)}")


@dataclass(frozen=True)
class Row:
    id: int
    period: str
    source: str
    import_id: int
    line: int
    service: str | None
    resource_id: str | None
    resource_name: str | None
    pi: str | None
    project: str | None
    fund: str | None
    currency: str
    start: datetime
    list_cost: Decimal | None
    effective_cost: Decimal | None
    billed_cost: Decimal
    flags: tuple[str, ...]
    review: str | None = None  # approved / rejected by a reviewer; None: no decision


@dataclass(frozen=True)
class Page:
    query: Query
    rows: tuple[Row, ...]
    next_cursor: str | None
    totals: Costs | None  # for the whole filtered set, when the rollup can answer; rejected
    #                       charges are never part of a sum of money (they are counted apart)
    rejected: Costs | None = None  # the rejected charges of the set


def encode_cursor(key: tuple[Any, ...]) -> str:
    """The opaque ``after`` of a page from a row's key (see storage.charges.key_of)."""
    vals = [v.isoformat() if isinstance(v, datetime) else str(v) for v in key]
    return base64.urlsafe_b64encode(json.dumps(vals).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, ...]:
    try:
        vals = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if sort == "file":
            return tuple(int(v) for v in vals)
        first: Any = {"billed": Decimal, "list": Decimal, "start": datetime.fromisoformat}.get(sort, str)
        return (first(vals[0]), int(vals[1]))
    except (ValueError, TypeError, IndexError, json.JSONDecodeError):
        raise InvalidInput(f"page cursor {cursor[:40]!r} is not valid; start from the first page") from None


def _filter(conn: Any, q: Query) -> repo.ChargeFilter | None:
    """The storage filter of a browser query; None when its period or source is unknown
    (nothing matches)."""
    period_id = source_id = None
    if q.period:
        row = periods_repo.get(conn, q.period)
        if row is None:
            return None
        period_id = row.id
    if q.source:
        src = sources_repo.get(conn, q.source)
        if src is None:
            return None
        source_id = src.id
    given = {"pi_email": q.pi, "project_id": q.project, "fund_org": q.fund, "service": q.service}
    return repo.ChargeFilter(
        period_id=period_id,
        source_id=source_id,
        pi_email=q.pi or None,
        project_id=q.project or None,
        fund_org=q.fund or None,
        service=q.service or None,
        missing=tuple(k for k, v in given.items() if v == ""),
        flagged=q.flagged,
        text=q.text or None,
    )


def _row(r: Any) -> Row:
    return Row(
        r.id,
        r.period,
        r.source,
        r.import_id,
        r.line,
        r.service_name,
        r.resource_id,
        r.resource_name,
        r.pi_email,
        r.project_id,
        r.fund_org,
        r.billing_currency,
        r.charge_period_start,
        r.list_cost,
        r.effective_cost,
        r.billed_cost,
        _flags(r.flags),
        r.review,
    )


def page(ctx: Context, q: Query, limit: int = PAGE, scope: Scope = ALL, totals: bool = True) -> Page:
    """A page of charges (only the scope's PIs'). With ``totals`` and without free text,
    the rollup answers the filtered set's totals first; when nothing matches, no charge
    row is read. Without ``totals`` (the API, the CSV export: nobody shows them) the page
    is its own index range scan and nothing else."""
    # imported here: insights loads the ingest package (pyarrow), which list_charges and
    # so the CLI's `charges list` do not need
    from openchargeback.services.insights import Costs, refresh

    after = decode_cursor(q.after, q.sort) if q.after else None
    with_totals = totals and not q.text
    if with_totals:
        refresh(ctx)
    with ctx.read() as conn:
        f = _filter(conn, q)
        pis = scope.narrow(q.pi or None)
        if f is None or pis == () or (pis is not None and q.pi == ""):
            return Page(q, (), None, Costs())
        f = replace(f, pi_emails=pis)
        sums = rejected = None
        if with_totals:
            filters = {
                "source": q.source,
                "pi": pis if pis is not None else _dim(q.pi),
                "project": _dim(q.project),
                "fund": _dim(q.fund),
                "service": _dim(q.service),
                "flagged": q.flagged,
            }
            ids = [f.period_id] if f.period_id else [r.id for r in periods_repo.list_all(conn)]
            items = agg.grouped(conn, period_ids=ids, by=("review",), filters=filters) if ids else []
            sums = _sum(i for i in items if i["review"] != "rejected")
            rejected = _sum(i for i in items if i["review"] == "rejected")
            if sums.rows + rejected.rows == 0:
                return Page(q, (), None, sums, rejected)
        rows = repo.page(conn, f, order=q.sort, descending=q.desc, after=after, limit=limit + 1)
    out = tuple(_row(r) for r in rows[:limit])
    nxt = encode_cursor(repo.key_of(rows[limit - 1], q.sort)) if len(rows) > limit else None
    return Page(q, out, nxt, sums, rejected)


def _sum(items: Any) -> Costs:
    """Costs of several rollup groups added up."""
    rows, sums = 0, dict.fromkeys(("billed", "effective", "list", "contracted"), ZERO)
    for i in items:
        rows += i["rows"]
        for k in sums:
            sums[k] += i[k]
    from openchargeback.services.insights import Costs  # see page()

    return Costs(rows, **sums)


def _dim(value: str | None) -> Any:
    if value is None:
        return None
    return agg.NULL if value == "" else value


EXPORT_COLUMNS = (
    "id",
    "period",
    "source",
    "import_id",
    "line",
    "service_name",
    "resource_id",
    "resource_name",
    "charge_period_start",
    "currency",
    "list_cost",
    "effective_cost",
    "billed_cost",
    "pi_email",
    "project_id",
    "fund_org",
    "flags",
    "review",
)


def export_csv(ctx: Context, q: Query, scope: Scope = ALL) -> Iterator[str]:
    """CSV text of every charge the query matches, in chunks (one read per chunk)."""
    yield csv_safe.lines([EXPORT_COLUMNS])
    q = replace(q, after=None)
    while True:
        p = page(ctx, q, limit=EXPORT_CHUNK, scope=scope, totals=False)
        yield csv_safe.lines(
            [
                (
                    r.id,
                    r.period,
                    r.source,
                    r.import_id,
                    r.line,
                    r.service,
                    r.resource_id,
                    r.resource_name,
                    r.start.isoformat(),
                    r.currency,
                    to_str(r.list_cost),
                    to_str(r.effective_cost),
                    to_str(r.billed_cost),
                    r.pi,
                    r.project,
                    r.fund,
                    ",".join(r.flags),
                    r.review or ("pending" if r.flags else "approved"),
                )
                for r in p.rows
            ]
        )
        if p.next_cursor is None:
            return
        q = replace(q, after=p.next_cursor)


def service_names(ctx: Context) -> list[str]:
    """The service names charges have (the browser's service filter; after :func:`page`,
    which brings the rollup up to date)."""
    with ctx.read() as conn:
        return agg.service_names(conn)


# -- one charge in full ------------------------------------------------------------------------
@dataclass(frozen=True)
class Detail:
    id: int
    period: str
    period_status: str
    source: str
    source_display: str
    import_id: int
    import_filename: str
    import_status: str
    line: int
    currency: str
    cost_chain: tuple[tuple[str, Decimal | None], ...]
    focus: tuple[tuple[str, object], ...]
    attribution: tuple[tuple[str, str | None], ...]
    flags: tuple[tuple[str, str], ...]
    tags: dict[str, Any] | None
    extra: dict[str, Any] | None
    review: tuple[tuple[str, object], ...] = ()


def _camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


_FOCUS_CHARGE_COLUMNS = (
    "billing_currency",
    "charge_period_start",
    "charge_period_end",
    "billed_cost",
    "effective_cost",
    "list_cost",
    "contracted_cost",
    "pricing_quantity",
    "consumed_quantity",
    "list_unit_price",
    "contracted_unit_price",
    "resource_id",
    "resource_name",
)
_REVIEW_COLUMNS = ("review", "review_note", "reviewed_by", "reviewed_at")


def detail(ctx: Context, charge_id: int, scope: Scope = ALL) -> Detail:
    with ctx.read() as conn:
        r = repo.detail(conn, charge_id)
    if r is None or not scope.allows(r.pi_email):
        raise NotFound(f"charge #{charge_id} does not exist")
    m = r._mapping
    names = (*repo.DETAIL_COLUMNS, *_FOCUS_CHARGE_COLUMNS)
    focus = tuple(sorted((_camel(k), m[k]) for k in names if k in m))
    review = tuple((k, m[k]) for k in _REVIEW_COLUMNS if k in m)
    attribution = tuple(
        (k, m[k])
        for k in (
            "pi_email",
            "project_id",
            "fund_org",
            "cost_center",
            "account_code",
            "reference_1",
            "reference_2",
        )
    )
    flags = tuple(zip(r.flags.split(","), describe_flags(r.flags), strict=True)) if r.flags else ()
    return Detail(
        r.id,
        r.period,
        r.period_status,
        r.source,
        r.source_display,
        r.import_id,
        r.import_filename,
        r.import_status,
        r.line,
        r.billing_currency,
        tuple((name, m[col]) for name, col in COST_CHAIN),
        focus,
        attribution,
        flags,
        json.loads(r.tags) if r.tags else None,
        json.loads(r.extra) if r.extra else None,
        review,
    )
