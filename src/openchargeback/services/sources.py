"""Sources of billing data."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from openchargeback.domain.errors import Conflict, InvalidInput
from openchargeback.services.context import Context
from openchargeback.storage import sources as repo

_NAME_OK = re.compile(r"^[a-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class SourceInfo:
    name: str
    display_name: str
    file_pattern: str | None
    cost_basis: str
    gl_fund_org: str | None
    gl_account: str | None
    from_config: bool

    def as_json(self) -> dict:
        return asdict(self)


def _info(row) -> SourceInfo:
    return SourceInfo(row.name, row.display_name, row.file_pattern, row.cost_basis,
                      row.gl_fund_org, row.gl_account, bool(row.from_config))


def list_sources(ctx: Context) -> list[SourceInfo]:
    with ctx.read() as conn:
        return [_info(r) for r in repo.list_all(conn)]


def add_source(ctx: Context, name: str, *, display_name: str | None = None,
               file_pattern: str | None = None, cost_basis: str = "billed",
               gl_fund_org: str | None = None, gl_account: str | None = None) -> SourceInfo:
    key = name.strip().lower()
    if not _NAME_OK.match(key):
        raise InvalidInput(f"source name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if cost_basis not in ("billed", "effective"):
        raise InvalidInput(f"cost basis {cost_basis!r}: expected billed or effective")
    with ctx.write() as conn:
        if repo.get(conn, key) is not None:
            raise Conflict(f"source {key!r} exists already (source names are case-insensitive)")
        row = repo.add(conn, key, {"display_name": display_name or key, "file_pattern": file_pattern,
                                   "cost_basis": cost_basis, "gl_fund_org": gl_fund_org,
                                   "gl_account": gl_account}, from_config=False, now=ctx.clock())
        return _info(row)
