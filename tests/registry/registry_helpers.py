"""Helpers of the registry tests: a small registry and charge files."""

from __future__ import annotations

import itertools
from pathlib import Path

from focus_builders import row, write_csv
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.registry import records as reg

_files = itertools.count(1)


def registry(ctx, *, nsf_to: str = "2025-06-30") -> None:
    """PI pi@example.edu; funds NSF-123 (valid 2024-07-01..nsf_to) and DEPT-9; projects
    proj-1 (default fund DEPT-9) and proj-2."""
    reg.add_record(
        ctx, "pis", {"email": "pi@example.edu", "name": "Ada", "billing_contacts": "admin@example.edu"}
    )
    reg.add_record(ctx, "pis", {"email": "other@example.edu"})
    reg.add_record(ctx, "funds", {"code": "NSF-123", "valid_from": "2024-07-01", "valid_to": nsf_to})
    reg.add_record(ctx, "funds", {"code": "DEPT-9"})
    reg.add_record(
        ctx, "projects", {"project_id": "proj-1", "pi_email": "pi@example.edu", "default_fund": "DEPT-9"}
    )
    reg.add_record(ctx, "projects", {"project_id": "proj-2", "pi_email": "other@example.edu"})


def charge(period: str, cost: str, day: str | None = None, **tags) -> dict:
    """A FOCUS row of ``period`` with these tags, starting on ``day`` (YYYY-MM-DD)."""
    over = {}
    if day:
        over = {"ChargePeriodStart": f"{day}T00:00:00Z", "ChargePeriodEnd": f"{day}T01:00:00Z"}
    return row(period, cost=cost, tags={k: v for k, v in tags.items() if v is not None}, **over)


def ingest_rows(ctx, tmp_path: Path, rows: list[dict], source: str = "aws"):
    path = write_csv(tmp_path / f"{source}_{next(_files)}.csv", rows)
    return ingest(ctx, path, source)


def flags_by_line(ctx, import_id: int) -> dict[int, str | None]:
    from sqlalchemy import text

    with ctx.engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT line, flags FROM charges WHERE import_id = :i"), {"i": import_id}).all()
        )


def charges_of(ctx, import_id: int) -> dict[int, tuple]:
    from sqlalchemy import text

    with ctx.engine.connect() as conn:
        return {
            r.line: (r.pi_email, r.project_id, r.fund_org, r.flags)
            for r in conn.execute(
                text("SELECT line, pi_email, project_id, fund_org, flags FROM charges WHERE import_id = :i"),
                {"i": import_id},
            )
        }
