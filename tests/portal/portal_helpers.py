"""Helpers of the portal tests: two PIs with projects and charges, a pi user and a
delegate user."""

from __future__ import annotations

import itertools
from pathlib import Path

from focus_builders import row, write_csv
from openchargeback.services import portal, users
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.registry import records as reg

PASSWORD = "correct horse battery"
_files = itertools.count(1)


def charge(period: str, cost: str, pi: str | None, project: str | None, resource: str = "r-1") -> dict:
    tags = {k: v for k, v in (("pi_email", pi), ("project_id", project), ("fund_org", "DEPT-9")) if v}
    return row(period, cost=cost, tags=tags, ResourceId=resource)


def ingest_rows(ctx, tmp_path: Path, rows: list[dict], source: str = "aws"):
    path = write_csv(tmp_path / f"{source}_{next(_files)}.csv", rows)
    return ingest(ctx, path, source)


def two_pis(ctx, tmp_path: Path) -> None:
    """PIs ada@example.edu (project p-ada) and bob@example.edu (p-bob), charges for both
    in 2025-01 and 2025-02; users ada (pi, linked), deb (delegate for ada), bob (pi,
    linked), eve (pi, not linked)."""
    reg.add_record(ctx, "pis", {"email": "ada@example.edu", "name": "Ada"})
    reg.add_record(ctx, "pis", {"email": "bob@example.edu", "name": "Bob"})
    reg.add_record(ctx, "funds", {"code": "DEPT-9"})
    reg.add_record(ctx, "projects", {"project_id": "p-ada", "pi_email": "ada@example.edu"})
    reg.add_record(ctx, "projects", {"project_id": "p-bob", "pi_email": "bob@example.edu"})
    for period in ("2025-01", "2025-02"):
        ingest_rows(
            ctx,
            tmp_path,
            [
                charge(period, "10.00", "ada@example.edu", "p-ada", "r-ada"),
                charge(period, "7.25", "bob@example.edu", "p-bob", "r-bob"),
                charge(period, "1.50", None, None, "r-none"),
            ],
        )
    for name, role in (("ada", "pi"), ("deb", "delegate"), ("bob", "pi"), ("eve", "pi")):
        users.add_user(ctx, name, PASSWORD, role)
    portal.link_pi(ctx, "ada", "ada@example.edu")
    portal.link_pi(ctx, "bob", "bob@example.edu")
    portal.grant(ctx, "deb", "ada@example.edu")
