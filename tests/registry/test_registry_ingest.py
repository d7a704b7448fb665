"""Ingest against the registry: PI and fund filled from the project, unknown projects and
funds flagged, funds flagged when the charge starts outside their validity; nothing new
for a site without a registry."""

from __future__ import annotations

from registry_helpers import charge, charges_of, ingest_rows, registry

from openchargeback.domain.review import describe
from openchargeback.services.registry import records as reg

ROWS = [
    charge("2025-06", "10.00", project_id="proj-1"),  # 2: PI and fund from the registry
    charge("2025-06", "10.00", project_id="proj-9", pi_email="x@example.edu", fund_org="DEPT-9"),  # 3
    charge("2025-06", "10.00", project_id="proj-1", fund_org="NOPE-1"),  # 4: fund unknown
    charge("2025-06", "10.00", "2025-06-30", project_id="proj-1", fund_org="NSF-123"),  # 5: last valid day
    charge("2025-06", "10.00", "2025-07-01", project_id="proj-1", fund_org="NSF-123"),  # 6: expired
    charge("2025-06", "10.00", "2024-06-30", project_id="proj-1", fund_org="NSF-123"),  # 7: not yet valid
    charge("2025-06", "10.00", project_id="proj-2", pi_email="own@example.edu"),  # 8: tags' PI kept
    charge("2025-06", "10.00", pi_email="pi@example.edu", fund_org="DEPT-9"),  # 9: no project
]


def test_registry_fills_and_flags(ctx, tmp_path):
    registry(ctx)
    result = ingest_rows(ctx, tmp_path, ROWS)
    got = charges_of(ctx, result.import_id)
    assert got[2] == ("pi@example.edu", "proj-1", "DEPT-9", None)
    assert got[3] == ("x@example.edu", "proj-9", "DEPT-9", "project_unknown")
    assert got[4] == ("pi@example.edu", "proj-1", "NOPE-1", "fund_unknown")
    assert got[5][3] is None
    assert got[6] == ("pi@example.edu", "proj-1", "NSF-123", "fund_expired")
    assert got[7][3] == "fund_expired"
    assert got[8] == ("own@example.edu", "proj-2", None, "missing_fund_org")
    assert got[9][3] == "missing_project"
    assert result.flagged == 6
    assert "expired" in describe("fund_expired") and "registry" in describe("project_unknown")


def test_no_registry_no_new_flags(ctx, tmp_path):
    """Funds alone (no project) do not switch the registry checks on."""
    reg.add_record(ctx, "funds", {"code": "NSF-123", "valid_to": "2025-01-31"})
    result = ingest_rows(ctx, tmp_path, ROWS)
    got = charges_of(ctx, result.import_id)
    assert got[2] == (None, "proj-1", None, "missing_pi,missing_fund_org")
    assert got[3][3] is None and got[4][3] == got[6][3] == got[7][3] == "missing_pi"
    codes = {c for v in got.values() if v[3] for c in v[3].split(",")}
    assert codes == {"missing_pi", "missing_project", "missing_fund_org"}


def test_expiry_is_per_row_within_one_combination(ctx, tmp_path):
    """Rows with identical tags but different charge dates are flagged separately."""
    registry(ctx, nsf_to="2025-06-15")
    rows = [
        charge("2025-06", "1.00", f"2025-06-{d:02d}", project_id="proj-1", fund_org="NSF-123")
        for d in range(1, 31)
    ]
    result = ingest_rows(ctx, tmp_path, rows)
    got = charges_of(ctx, result.import_id)
    expired = sorted(line for line, v in got.items() if v[3] == "fund_expired")
    assert expired == list(range(2 + 15, 2 + 30))
    assert result.flagged == 15
