"""Sources of billing data: list, show, add and edit (database-declared sources only;
the configuration file is authoritative for the sources it declares). Every change is
audited in its own transaction."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from openchargeback.domain.errors import Conflict, InvalidInput
from openchargeback.domain.jsonable import Jsonable
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.storage import sources as repo

NAME_OK = re.compile(r"^[a-z0-9_.-]{1,64}$")
COST_BASES = ("billed", "effective")


@dataclass(frozen=True)
class SourceInfo(Jsonable):
    name: str
    display_name: str
    file_pattern: str | None
    cost_basis: str
    gl_fund_org: str | None
    gl_account: str | None
    from_config: bool


def _info(row: Any) -> SourceInfo:
    return SourceInfo(
        row.name,
        row.display_name,
        row.file_pattern,
        row.cost_basis,
        row.gl_fund_org,
        row.gl_account,
        bool(row.from_config),
    )


def _values(
    display_name: str | None,
    file_pattern: str | None,
    cost_basis: str,
    gl_fund_org: str | None,
    gl_account: str | None,
    default_name: str,
) -> dict[str, Any]:
    if cost_basis not in COST_BASES:
        raise InvalidInput(f"cost basis {cost_basis!r}: expected billed or effective")
    return {
        "display_name": (display_name or "").strip() or default_name,
        "file_pattern": (file_pattern or "").strip() or None,
        "cost_basis": cost_basis,
        "gl_fund_org": (gl_fund_org or "").strip() or None,
        "gl_account": (gl_account or "").strip() or None,
    }


def list_sources(ctx: Context) -> list[SourceInfo]:
    with ctx.read() as conn:
        return [_info(r) for r in repo.list_all(conn)]


def get_source(ctx: Context, name: str) -> SourceInfo:
    with ctx.read() as conn:
        return _info(lookup.source(conn, name))


def add_source(
    ctx: Context,
    name: str,
    *,
    display_name: str | None = None,
    file_pattern: str | None = None,
    cost_basis: str = "billed",
    gl_fund_org: str | None = None,
    gl_account: str | None = None,
    ip: str | None = None,
) -> SourceInfo:
    key = name.strip().lower()
    if not NAME_OK.match(key):
        raise InvalidInput(f"source name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    values = _values(display_name, file_pattern, cost_basis, gl_fund_org, gl_account, key)
    with ctx.write() as conn:
        if repo.get(conn, key) is not None:
            raise Conflict(f"source {key!r} exists already (source names are case-insensitive)")
        row = repo.add(conn, key, values, from_config=False, now=ctx.clock())
        audit.record_in(conn, ctx, "source.add", key, json.dumps(values, sort_keys=True), ip)
        return _info(row)


def edit_source(
    ctx: Context,
    name: str,
    *,
    display_name: str | None,
    file_pattern: str | None,
    cost_basis: str,
    gl_fund_org: str | None,
    gl_account: str | None,
    ip: str | None = None,
) -> SourceInfo:
    values = _values(display_name, file_pattern, cost_basis, gl_fund_org, gl_account, name)
    with ctx.write() as conn:
        row = lookup.source(conn, name)
        if row.from_config:
            raise Conflict(
                f"source {row.name!r} is declared in the configuration file; "
                f"edit it there (the file is authoritative for its sources)"
            )
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        repo.edit(conn, row.id, changed)
        audit.record_in(
            conn,
            ctx,
            "source.edit",
            row.name,
            json.dumps(changed, sort_keys=True) if changed else "no change",
            ip,
        )
        return _info(lookup.source(conn, row.name))
