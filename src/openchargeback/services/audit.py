"""The audit log: record an event (inside the caller's transaction when given one) and
read it back, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openchargeback.services.context import Context
from openchargeback.storage import audit as repo


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None
    ip: str | None


@dataclass(frozen=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    next_before: int | None
    actions: tuple[str, ...]


def record_in(
    conn,
    ctx: Context,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    ip: str | None = None,
) -> None:
    repo.record(conn, at=ctx.clock(), actor=ctx.actor, action=action, target=target, detail=detail, ip=ip)


def record(
    ctx: Context, action: str, target: str | None = None, detail: str | None = None, ip: str | None = None
) -> None:
    with ctx.write() as conn:
        record_in(conn, ctx, action, target, detail, ip)


def list_entries(
    ctx: Context,
    *,
    action: str | None = None,
    actor: str | None = None,
    text: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> AuditPage:
    with ctx.read() as conn:
        rows = repo.listing(
            conn,
            action=action or None,
            actor=actor or None,
            text=text or None,
            before_id=before_id,
            limit=limit + 1,
        )
        acts = tuple(repo.actions(conn))
    entries = tuple(AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.detail, r.ip) for r in rows[:limit])
    return AuditPage(entries, entries[-1].id if len(rows) > limit else None, acts)
