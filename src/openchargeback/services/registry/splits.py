"""Fund splits: which funds pay for a project's charges, by percentage, over whole periods.

Setting a split for ``[first, last]`` replaces whatever split of the same project and
scope covered those periods (earlier splits are cut around it, never lost from the
audit log). It is refused when any of those periods is closed or finalized: statements
of a closed period must not change under anyone's feet. Every change is audited with the
splits before and after.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from openchargeback.domain.allocation import Split, carve, check_range, check_shares
from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.domain.jsonable import JSON, Jsonable, to_json
from openchargeback.domain.money import to_str
from openchargeback.domain.periods import Period, PeriodStatus
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import registry as repo


@dataclass(frozen=True)
class SplitInfo(Jsonable):
    id: int
    project_id: str = field(metadata={JSON: "project"})
    first: str = field(metadata={JSON: "from"})
    last: str | None = field(metadata={JSON: "to"})
    scope: str
    scope_value: str | None
    shares: tuple[tuple[str, Decimal], ...]
    created_by: str
    created_at: datetime

    def as_json(self) -> dict:
        # shares stay (fund, percent) pairs, as domain Split takes them
        return {**to_json(self), "shares": _shares(self.shares)}

    def as_split(self) -> Split:
        return Split(
            self.project_id,
            Period.parse(self.first),
            Period.parse(self.last) if self.last else None,
            self.shares,
            self.scope,
            self.scope_value,
            self.id,
        )


@dataclass(frozen=True)
class SplitChange(Jsonable):
    project_id: str = field(metadata={JSON: "project"})
    first: str = field(metadata={JSON: "from"})
    last: str | None = field(metadata={JSON: "to"})
    shares: tuple[tuple[str, Decimal], ...]  # empty: the range was cleared
    before: tuple[SplitInfo, ...]  # the project's splits before the change
    after: tuple[SplitInfo, ...]

    def as_json(self) -> dict:
        # shares as in SplitInfo, and SplitInfo's own JSON
        return {
            **to_json(self),
            "shares": _shares(self.shares),
            "before": [s.as_json() for s in self.before],
            "after": [s.as_json() for s in self.after],
        }


def _shares(shares: tuple[tuple[str, Decimal], ...]) -> list[dict]:
    return [{"fund": f, "percent": to_str(p)} for f, p in shares]


def _infos(conn, project_id: str | None = None) -> tuple[SplitInfo, ...]:
    return tuple(
        SplitInfo(
            r.id,
            r.project_id,
            r.first_period,
            r.last_period,
            r.scope,
            r.scope_value,
            shares,
            r.created_by,
            r.created_at,
        )
        for r, shares in repo.splits(conn, project_id)
    )


def load_splits(conn) -> tuple[Split, ...]:
    """Every split, for the allocation (inside the caller's transaction)."""
    return tuple(i.as_split() for i in _infos(conn))


def list_splits(
    ctx: Context, project_id: str | None = None, period: str | None = None
) -> tuple[SplitInfo, ...]:
    """Splits of one project or of all, optionally only those in force in ``period``."""
    p = Period.parse(period) if period else None
    with ctx.read() as conn:
        if project_id and repo.get(conn, "projects", project_id) is None:
            raise NotFound(f"project {project_id!r} is not in the registry")
        items = _infos(conn, project_id)
    return tuple(i for i in items if p is None or i.as_split().covers(p))


def parse_share(text: str) -> tuple[str, Decimal]:
    """``FUND=PERCENT`` (``NSF-123=60``, ``DEPT-9=40.5``)."""
    fund, sep, pct = text.rpartition("=")
    fund = fund.strip()
    try:
        value = Decimal(pct.strip().rstrip("%"))
    except ArithmeticError:
        value = None
    if not sep or not fund or value is None or not value.is_finite():
        raise InvalidInput(f"share {text!r}: expected FUND=PERCENT, e.g. NSF-123=60")
    return fund, value


def set_split(
    ctx: Context,
    project_id: str,
    shares: Sequence[tuple[str, Decimal]],
    first: str,
    last: str | None = None,
    *,
    sources: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    reason: str | None = None,
) -> SplitChange:
    """Split ``project_id`` between funds for periods ``first``..``last`` (inclusive; None:
    open-ended), for all its charges or only those of ``sources`` or of ``services``.
    Empty ``shares`` clears the range (charges go back to their own fund)."""
    start = Period.parse(first)
    end = Period.parse(last) if last else None
    check_range(start, end)
    checked = check_shares(shares, f"split of {project_id}") if shares else ()
    if sources and services:
        raise InvalidInput("a split is scoped to sources or to services, not both; set them separately")
    with ctx.write() as conn:
        if repo.get(conn, "projects", project_id) is None:
            raise NotFound(
                f"project {project_id!r} is not in the registry; add it first "
                f"(`openchargeback projects add {project_id} ...`)",
                web=f"project {project_id!r} is not in the registry; add it on the Registry page first",
            )
        _check_funds(conn, project_id, checked, start, end)
        scopes = _scopes(conn, sources, services)
        _refuse_locked(conn, project_id, start, end)
        before = _infos(conn, project_id)
        now = ctx.clock()
        for scope, value in scopes:
            for info in before:
                s = info.as_split()
                if s.scope != scope or (s.scope_value or None) != value or not s.overlaps(start, end):
                    continue
                repo.delete_split(conn, info.id)
                for a, b in carve(s, start, end):
                    repo.add_split(
                        conn,
                        _row(project_id, a, b, scope, value),
                        info.shares,
                        info.created_by,
                        info.created_at,
                    )
            if checked:
                repo.add_split(conn, _row(project_id, start, end, scope, value), checked, ctx.actor, now)
        after = _infos(conn, project_id)
        audit.record_in(
            conn,
            ctx,
            "split.set",
            project_id,
            json.dumps(
                {
                    "from": start.name,
                    "to": end.name if end else None,
                    "scopes": [f"{s}:{v}" if v else s for s, v in scopes],
                    "shares": {f: to_str(p) for f, p in checked},
                    "reason": reason,
                    "before": [i.as_json() for i in before],
                    "after": [i.as_json() for i in after],
                }
            ),
        )
    return SplitChange(project_id, start.name, end.name if end else None, checked, before, after)


def _row(project_id: str, first: Period, last: Period | None, scope: str, value: str | None) -> dict:
    return {
        "project_id": project_id,
        "first_period": first.name,
        "last_period": last.name if last else None,
        "scope": scope,
        "scope_value": value,
    }


def _scopes(conn, sources: tuple[str, ...], services: tuple[str, ...]) -> list[tuple[str, str | None]]:
    if sources:
        out: list[tuple[str, str | None]] = []
        for name in dict.fromkeys(s.strip().lower() for s in sources):
            lookup.source(conn, name)
            out.append(("source", name))
        return out
    if services:
        return [("service", s.strip()) for s in dict.fromkeys(services) if s.strip()]
    return [("all", None)]


def _check_funds(conn, project_id: str, shares, start: Period, end: Period | None) -> None:
    """Each fund is registered and valid in the first and the last period of the split."""
    for fund, _ in shares:
        row = repo.get(conn, "funds", fund)
        if row is None:
            raise NotFound(
                f"split of {project_id}: fund {fund} is not in the registry "
                f"(`openchargeback funds add {fund}`)",
                web=f"split of {project_id}: fund {fund} is not in the registry (add it on the "
                "Registry page)",
            )
        lo, hi = row["valid_from"], row["valid_to"]
        if lo is not None and lo >= (end or start).end.date():
            raise InvalidInput(
                f"split of {project_id}: fund {fund} is valid only from {lo}, "
                f"after the split's periods; start the split later"
            )
        if hi is not None and (end is None or hi < start.start.date() or hi < end.start.date()):
            until = f"to {end}" if end else "with no end"
            short = (
                f"split of {project_id}: fund {fund} is valid until {hi} but the split "
                f"runs {until}; end the split by {Period.containing(_at(hi))}"
            )
            raise InvalidInput(f"{short} (--to)", web=short)


def _at(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _refuse_locked(conn, project_id: str, start: Period, end: Period | None) -> None:
    for row in periods_repo.list_all(conn):
        p = Period.parse(row.name)
        if p >= start and (end is None or p <= end) and row.status != PeriodStatus.OPEN.value:
            locked = (
                f"changing the split of {project_id} from {start} would change period "
                f"{row.name}, which is {row.status}; reopen it first or start the "
                f"split after it"
            )
            raise Conflict(f"{locked} (--from {p.next()})", web=f"{locked} (from {p.next()})")
