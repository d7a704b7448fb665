"""Every variable a journal template receives is documented in
docs/admin-guide/journal.md, and every documented top-level variable is provided."""

from __future__ import annotations

import re
from pathlib import Path

from openchargeback.services.journal import export as svc

from .conftest import approve_all, close, load_sample

DOC = Path(__file__).resolve().parents[2] / "docs" / "admin-guide" / "journal.md"
DUMP = """top={{ ["period", "export", "postings", "sources", "summary", "charges", "totals"] | join(",") }}
period={{ period.keys() | sort | join(",") }}
export={{ export.keys() | sort | join(",") }}
postings={{ postings[0].keys() | sort | join(",") }}
sources={{ sources[0].keys() | sort | join(",") }}
summary={{ summary[0].keys() | sort | join(",") }}
charges={{ charges[0].keys() | sort | join(",") }}
totals={{ totals.USD.keys() | sort | join(",") }}
"""


def _documented() -> dict[str, set[str]]:
    section = DOC.read_text().split("### Template variables", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for bullet in re.split(r"\n- ", "\n" + section.strip().split("\n\n", 1)[0])[1:]:
        name = re.match(r"`(\w+)`", bullet).group(1)
        out[name] = set(re.findall(r"`(\w+)`", bullet)[1:])
    return out


def test_template_variables_are_documented(sqlite_url, make_journal_ctx, tmp_path):
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "dump.txt.j2").write_text(DUMP)
    ctx = make_journal_ctx(sqlite_url, journal={"template_dir": str(tdir)})
    load_sample(ctx, sources=("aws",))
    approve_all(ctx)
    close(ctx)
    r = svc.export_journal(ctx, "2025-01", "dump")
    got = dict(line.split("=", 1) for line in Path(r.path).read_text().splitlines() if "=" in line)
    documented = _documented()
    assert set(got["top"].split(",")) == set(documented)
    summary_columns = {
        "period",
        "pi_email",
        "project_id",
        "fund_org",
        "currency",
        "list_cost",
        "billed_cost",
        "charged",
        "charges",
    }
    assert set(got["summary"].split(",")) == summary_columns  # "the columns of the summary format"
    assert "`standard`" in DOC.read_text()
    for name in ("period", "export", "postings", "sources", "totals"):
        missing = set(got[name].split(",")) - documented[name]
        assert not missing, f"docs/admin-guide/journal.md: template variable {name} lacks {sorted(missing)}"
