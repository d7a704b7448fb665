"""Audited administration for the web: period transitions, sources, and the effective
configuration with its secrets masked. Each action and its audit record are one
transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass

from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.services import audit, periods
from openchargeback.services.context import Context
from openchargeback.services.periods import PeriodInfo
from openchargeback.services.sources import _NAME_OK, SourceInfo
from openchargeback.services.sources import _info as _source_info
from openchargeback.storage import source_edits
from openchargeback.storage import sources as sources_repo
from openchargeback.storage.db import masked_url

MASK = "********"


def change_period(ctx: Context, name: str, action: str, reason: str | None = None, *,
                  force: bool = False, ip: str | None = None) -> PeriodInfo:
    """A period transition from the web: the same rules as the CLI (closing is refused
    while charges are pending review unless an admin forces it with a reason)."""
    return periods.change_status(ctx, name, action, reason, force=force, ip=ip)


def create_source(ctx: Context, name: str, *, display_name: str | None = None,
                  file_pattern: str | None = None, cost_basis: str = "billed",
                  gl_fund_org: str | None = None, gl_account: str | None = None,
                  ip: str | None = None) -> SourceInfo:
    key = name.strip().lower()
    if not _NAME_OK.match(key):
        raise InvalidInput(f"source name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if cost_basis not in ("billed", "effective"):
        raise InvalidInput(f"cost basis {cost_basis!r}: expected billed or effective")
    values = {"display_name": (display_name or "").strip() or key,
              "file_pattern": (file_pattern or "").strip() or None, "cost_basis": cost_basis,
              "gl_fund_org": (gl_fund_org or "").strip() or None,
              "gl_account": (gl_account or "").strip() or None}
    with ctx.write() as conn:
        if sources_repo.get(conn, key) is not None:
            raise Conflict(f"source {key!r} exists already (source names are case-insensitive)")
        row = sources_repo.add(conn, key, values, from_config=False, now=ctx.clock())
        audit.record_in(conn, ctx, "source.add", key, json.dumps(values, sort_keys=True), ip)
        return _source_info(row)


def get_source(ctx: Context, name: str) -> SourceInfo:
    with ctx.read() as conn:
        row = sources_repo.get(conn, name)
    if row is None:
        raise NotFound(f"source {name!r} does not exist")
    return _source_info(row)


def edit_source(ctx: Context, name: str, *, display_name: str | None, file_pattern: str | None,
                cost_basis: str, gl_fund_org: str | None, gl_account: str | None,
                ip: str | None = None) -> SourceInfo:
    if cost_basis not in ("billed", "effective"):
        raise InvalidInput(f"cost basis {cost_basis!r}: expected billed or effective")
    values = {"display_name": (display_name or "").strip() or name,
              "file_pattern": (file_pattern or "").strip() or None, "cost_basis": cost_basis,
              "gl_fund_org": (gl_fund_org or "").strip() or None,
              "gl_account": (gl_account or "").strip() or None}
    with ctx.write() as conn:
        row = sources_repo.get(conn, name)
        if row is None:
            raise NotFound(f"source {name!r} does not exist")
        if row.from_config:
            raise Conflict(f"source {row.name!r} is declared in the configuration file; "
                           f"edit it there (the file is authoritative for its sources)")
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        source_edits.update(conn, row.id, changed)
        audit.record_in(conn, ctx, "source.edit", row.name,
                        json.dumps(changed, sort_keys=True) if changed else "no change", ip)
        return _source_info(sources_repo.get(conn, row.name))


@dataclass(frozen=True)
class SettingsView:
    items: tuple[tuple[str, str], ...]  # dotted key, value as shown
    tag_mapping: tuple[tuple[str, tuple[str, ...]], ...]


def effective_settings(ctx: Context) -> SettingsView:
    s = ctx.settings
    data = s.model_dump(mode="json")
    data["database"]["url"] = masked_url(s.database.url)
    if data["server"].get("secret_key"):
        data["server"]["secret_key"] = MASK
    for u in data.get("users", []):
        u["password_hash"] = MASK
    items: list[tuple[str, str]] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        else:
            items.append((prefix, "(not set)" if value is None else
                          ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    walk("", {k: v for k, v in data.items() if k != "tag_mapping"})
    return SettingsView(tuple(items), tuple((f, tuple(c)) for f, c in s.mapping().items()))
