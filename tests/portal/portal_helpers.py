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


def scope_of(ctx, name: str):
    """The portal scope of user ``name``."""
    u = users.get_user(ctx, name)
    return portal.scope_for(ctx, u.id, u.role)


def sent_line_statement(make_ctx, db_url: str, tmp_path: Path):
    """:func:`two_pis` with a second charge of ada's 2025-01 line, the period closed and its
    statements sent to the outbox: (ctx, ada's scope, her project statement of 2025-01)."""
    from openchargeback.services import periods
    from openchargeback.services.statements import generate, send_period

    ctx = make_ctx(
        db_url,
        dev_mode=True,  # statements go to the outbox folder
        statements={"output_dir": str(tmp_path / "out"), "number_prefix": "RC"},
        email={"outbox_dir": str(tmp_path / "outbox"), "from_address": "billing@rc.example.edu"},
    )
    two_pis(ctx, tmp_path)
    ada = scope_of(ctx, "ada")
    # a second charge of the same line (aws, service, fund) in 2025-01
    ingest_rows(ctx, tmp_path, [charge("2025-01", "2.50", "ada@example.edu", "p-ada", "r-ada-2")])
    periods.change_status(ctx, "2025-01", "close", "tests", force=True)
    generate(ctx, "2025-01")
    send_period(ctx, "2025-01")
    [st] = [s for s in portal.sent_statements(ctx, ada) if s.kind == "project"]
    return ctx, ada, st
