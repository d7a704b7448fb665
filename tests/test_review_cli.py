"""`openchargeback review ...` and `periods close --force` from the command line: exit
codes, --json for every command, key pagination of the queue. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from focus_builders import row, write_csv
from openchargeback.domain.errors import InvalidInput
from openchargeback.services import review as rv
from openchargeback.services.ingest.loading import ingest

INPUTS = Path(__file__).resolve().parent.parent / "sample_data" / "inputs"
P = "2025-01"


@pytest.fixture
def cli(db_url, write_config, run_cli):
    """run(*args) with the config of a database holding aws 2025-01 (5 charges above 1000
    flagged) and hpc 2025-01 (nothing billed, nothing flagged)."""
    cfg = write_config(db_url, review={"max_charge": 1000})

    def run(*args):
        return run_cli(*args, "-c", cfg)

    code, out, err = run("ingest", INPUTS / "aws_2025-01.csv", "-s", "aws")
    assert code == 0, err
    code, out, err = run("ingest", INPUTS / "hpc_2025-01.csv", "-s", "hpc")
    assert code == 0, err
    return run


def as_json(result) -> dict:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def test_list_json_and_text(cli):
    q = as_json(cli("review", "list", "-p", P, "--json"))
    assert (q["period"], q["status"], q["count"], q["total"]) == (P, "pending", 5, "9987.50")
    assert [c["billed_cost"] for c in q["charges"]] == ["2975.00", "2040.00", "2040.00", "1870.00", "1062.50"]
    first = q["charges"][0]
    assert first["flags"] == ["over_max"] and first["source"] == "aws" and first["review"] is None
    assert first["reasons"] == ["a single charge above the configured maximum (1000.00)"]
    assert first["project_id"] == "exoplanet-survey" and q["next_after"] is None
    code, out, _ = cli("review", "list", "-p", P)
    assert code == 0
    assert "2025-01: 5 pending charge(s), 9,987.50 billed" in out
    assert "bucket-telescope-raw" in out and "above the configured maximum" in out
    hpc = as_json(cli("review", "list", "-p", P, "-s", "hpc", "--status", "all", "--json"))
    assert hpc["count"] == 9 and hpc["total"] == "0.00"


def test_list_pages_with_after(cli):
    seen, after, pages = [], None, 0
    while True:
        args = ["review", "list", "-p", P, "--status", "all", "--limit", "7", "--json"]
        page = as_json(cli(*args, *(["--after", after] if after else [])))
        seen += page["charges"]
        pages += 1
        after = page["next_after"]
        assert page["count"] == 34  # the filter's count, on every page
        if after is None:
            break
    assert pages == 5 and len(seen) == 34 and len({c["id"] for c in seen}) == 34
    sizes = [abs(Decimal(c["billed_cost"])) for c in seen]
    assert sizes == sorted(sizes, reverse=True)
    code, out, _ = cli("review", "list", "-p", P, "--limit", "2")
    assert code == 0 and "more: --after " in out
    code, _, err = cli("review", "list", "-p", P, "--after", "not-a-cursor")
    assert code == 1 and "--after" in err


def test_approve_reject_correct_recheck_json(cli):
    q = as_json(cli("review", "list", "-p", P, "--json"))["charges"]
    a = as_json(cli("review", "approve", "-p", P, str(q[0]["id"]), str(q[1]["id"]), "--note", "ok", "--json"))
    assert a == {"action": "approved", "period": P, "count": 2, "total": "5015.00", "rule_id": None}
    r = as_json(cli("review", "reject", "-p", P, str(q[2]["id"]), "--note", "test box", "--json"))
    assert (r["action"], r["count"], r["total"]) == ("rejected", 1, "2040.00")
    c = as_json(
        cli(
            "review",
            "correct",
            "-p",
            P,
            "--resource-id",
            "bucket-brain-scans",
            "--set-project",
            "brain",
            "--save-rule",
            "--note",
            "moved",
            "--json",
        )
    )
    assert (c["action"], c["count"], c["total"]) == ("corrected", 1, "1870.00")
    assert isinstance(c["rule_id"], int)
    t = as_json(
        cli(
            "review",
            "correct",
            "-p",
            P,
            "--tag",
            "request_id=REQ-2024-00142",
            "--set-fund",
            "BIO-2025-001",
            "--json",
        )
    )
    assert t["count"] == 4  # the genomics charges carry that request id
    code, out, _ = cli("review", "approve", "-p", P, "--reason", "over_max")
    assert code == 0 and out.strip() == "approved 2 charge(s) of 2025-01 (2,932.50 billed)"
    rc = as_json(cli("review", "recheck", "-p", P, "--json"))
    assert (rc["action"], rc["count"], rc["total"]) == ("recheck", 0, "0.00")
    assert as_json(cli("review", "list", "-p", P, "--json"))["count"] == 0
    rej = as_json(cli("review", "list", "-p", P, "--status", "rejected", "--json"))
    assert [(x["id"], x["review_note"]) for x in rej["charges"]] == [(q[2]["id"], "test box")]
    totals = as_json(cli("report", "totals", "-p", P, "--json"))
    assert totals["billed_cost"] == "17046.75"  # 19086.75 less the rejected 2040
    # the saved rule applies at the next import
    code, _, err = cli("ingest", INPUTS / "aws_2025-12.csv", "-s", "aws")
    assert code == 0, err
    dec = as_json(
        cli(
            "review",
            "list",
            "-p",
            "2025-12",
            "--status",
            "all",
            "--resource-id",
            "bucket-brain-scans",
            "--json",
        )
    )
    assert [x["project_id"] for x in dec["charges"]] == ["brain"]


ERRORS = [
    (("review", "reject", "-p", P, "1"), 2, "--note"),  # usage: required option
    (("review", "reject", "-p", P, "1", "--note", " "), 1, "note"),
    (("review", "approve", "-p", P, "999999"), 1, "999999"),
    (("review", "approve", "-p", "2024-07"), 1, "2024-07"),
    (("review", "approve", "-p", "2025-13"), 1, "2025-13"),
    (("review", "list", "-p", P, "--status", "maybe"), 1, "status"),
    (("review", "list", "-p", P, "-s", "gcp"), 1, "gcp"),
    (("review", "list", "-p", P, "--min-amount", "lots"), 1, "--min-amount"),
    (("review", "correct", "-p", P, "1"), 1, "at least one"),
    (("review", "correct", "-p", P, "--tag", "novalue", "--set-project", "x"), 1, "key=value"),
    (("review", "correct", "-p", P, "--tag", "team=none", "--set-project", "x"), 1, "matches"),
    (
        ("review", "correct", "-p", P, "--reason", "over_max", "--set-project", "x", "--save-rule"),
        1,
        "one resource",
    ),
    (("review", "recheck"), 2, "--period"),
    (("review", "frobnicate"), 2, "frobnicate"),
]


def test_errors_exit_with_a_message_and_change_nothing(cli):
    before = as_json(cli("review", "list", "-p", P, "--status", "all", "--limit", "100", "--json"))
    for args, code, words in ERRORS:  # one database for all (each case is quick, a setup is not)
        got, out, err = cli(*args)
        assert (got, words in err, "Traceback" in err) == (code, True, False), (args, err)
    assert as_json(cli("review", "list", "-p", P, "--status", "all", "--limit", "100", "--json")) == before


def test_rules_show_set_preview_json(cli, tmp_path):
    shown = as_json(cli("review", "rules", "show", "--json"))
    assert shown == {"fund_org_patterns": [], "flag_patterns": [], "max_charge": "1000.00"}
    code, out, _ = cli("review", "rules", "show")
    assert code == 0 and yaml.safe_load(out)["max_charge"] == "1000.00"
    proposed = tmp_path / "rules.yaml"
    proposed.write_text(
        yaml.safe_dump(
            {
                "max_charge": 2500.5,  # a YAML float: read by its text
                "flag_patterns": [
                    {"name": "gpu", "field": "resource_name", "pattern": "gpu", "reason": "GPU instance"}
                ],
            }
        )
    )
    p = as_json(cli("review", "rules", "preview", str(proposed), "-p", P, "--json"))
    # 2975 above the maximum; two aws and two hpc resources named *gpu*
    assert (p["period"], p["charges"], p["flagged"]) == (P, 34, 5)
    assert p["by_reason"] == [
        {"flag": "pattern:gpu", "reason": "GPU instance", "count": 4},
        {"flag": "over_max", "reason": "a single charge above the configured maximum (2500.50)", "count": 1},
    ]
    assert p["newly_flagged"] == 2 and p["cleared"] == 2  # the hpc ones; 1870 and 1062.50
    assert len(p["examples"]) == 6
    code, out, _ = cli("review", "rules", "preview", str(proposed), "-p", P)
    assert code == 0 and "5 of 34 charge(s) would be flagged (2 newly, 2 cleared)" in out
    assert "pattern:gpu: GPU instance" in out
    assert as_json(cli("review", "rules", "show", "--json")) == shown  # preview saved nothing
    s = as_json(cli("review", "rules", "set", str(proposed), "--json"))
    assert s["max_charge"] == "2500.50" and s["flag_patterns"][0]["name"] == "gpu"
    assert as_json(cli("review", "rules", "show", "--json")) == s
    assert as_json(cli("review", "list", "-p", P, "--json"))["count"] == 5  # until recheck
    rc = as_json(cli("review", "recheck", "-p", P, "--json"))
    assert rc["count"] == 6 and rc["total"] == "7055.00"
    assert as_json(cli("review", "list", "-p", P, "--json"))["count"] == 5
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_charge: [1, 2\n")
    for args in (("review", "rules", "set", str(bad)), ("review", "rules", "preview", str(bad), "-p", P)):
        code, _, err = cli(*args)
        assert code == 1 and "bad.yaml" in err
    bad.write_text("- just a list\n")
    code, _, err = cli("review", "rules", "set", str(bad))
    assert code == 1 and "mapping" in err
    bad.write_text("max_charge: -4\n")
    code, _, err = cli("review", "rules", "set", str(bad))
    assert code == 1 and "negative" in err
    code, _, err = cli("review", "rules", "set", str(tmp_path / "missing.yaml"))
    assert code == 1 and "missing.yaml" in err
    assert as_json(cli("review", "rules", "show", "--json")) == s


def test_periods_close_gate_and_force(cli):
    code, out, err = cli("periods", "close", P)
    assert code == 1
    assert "5 charge(s) pending review (9987.50 billed)" in err
    code, _, err = cli("periods", "close", P, "--force")
    assert code == 1 and "--reason" in err
    closed = as_json(cli("periods", "close", P, "--force", "--reason", "year end", "--json"))
    assert closed["status"] == "closed"
    assert closed["history"][-1]["reason"] == "closed with 5 charge(s) pending review: year end"
    code, _, err = cli("review", "approve", "-p", P)
    assert code == 1 and "closed" in err
    code, _, err = cli("review", "recheck", "-p", P)
    assert code == 1 and "closed" in err
    # the queue can still be listed
    assert as_json(cli("review", "list", "-p", P, "--json"))["count"] == 5


def test_periods_close_without_pending_needs_no_force(cli):
    as_json(cli("review", "approve", "-p", P, "--json"))
    closed = as_json(cli("periods", "close", P, "--json"))
    assert closed["status"] == "closed" and closed["history"][-1]["reason"] is None


# -- key pagination of the queue (service level) --------------------------------------------------


def test_queue_pages_cover_everything_once_in_order_with_ties(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    costs = [
        "5",
        "-5",
        "5",
        "7.5",
        "0",
        "-7.5",
        "5",
        "100",
        "0.000001",
        "-100",
        "5",
        "3",
        "3",
        "99.999999",
        "5",
        "-0.000001",
        "42",
        "42",
        "42",
        "1",
        "-42",
        "0",
        "8",
    ]
    pi = {"pi_email": "pi@example.edu"}
    rows = [row(cost=c, tags=pi if n % 2 else None) for n, c in enumerate(costs)]
    rows.append(row(cost="1000", tags={**pi, "project_id": "p", "fund_org": "f"}))  # not flagged
    ingest(ctx, write_csv(tmp_path / "a.csv", rows), "aws")
    ingest(ctx, write_csv(tmp_path / "b.csv", [row(cost="42", tags=pi), row(cost="-3", tags=None)]), "azure")
    some = rv.list_queue(ctx, P, limit=1000).items
    rv.approve(ctx, P, rv.Selection(ids=(some[3].id,)))
    rv.reject(ctx, P, rv.Selection(ids=(some[7].id,)), "no")
    # pending charges are read from the queue indexes, by sign; other selections by a sort
    for sel in (
        rv.Selection(),
        rv.Selection(source="aws"),
        rv.Selection(reason="missing_pi"),
        rv.Selection(min_amount=Decimal(5)),
        rv.Selection(status="all"),
        rv.Selection(pi_email="pi@example.edu"),
        rv.Selection(status="flagged", source="azure"),
    ):
        full = rv.list_queue(ctx, P, sel, limit=1000)
        assert full.next_after is None and full.count == len(full.items) >= 2, sel
        expected = sorted(full.items, key=lambda i: (-abs(i.billed_cost), i.id))
        assert list(full.items) == expected, sel
        assert full.total == sum(i.billed_cost for i in full.items)
        for limit in (1, 3, 7):
            seen, after, pages = [], None, 0
            while True:
                page = rv.list_queue(ctx, P, sel, after=after, limit=limit)
                assert (page.count, page.total) == (full.count, full.total)
                seen += page.items
                pages += 1
                after = page.next_after
                if after is None:
                    break
                assert len(page.items) == limit
            assert seen == expected, (sel, limit)
            assert pages == max(1, -(-len(expected) // limit))
    pending = rv.list_queue(ctx, P, limit=1000)
    assert pending.count == 23 + 2 - 2  # flagged: 23 in aws, 2 in azure; 2 decided
    assert some[3].id not in {i.id for i in pending.items}
    with pytest.raises(InvalidInput, match="--after"):
        rv.list_queue(ctx, P, after="12")
