"""The `openchargeback` command: exit codes (0 ok, 1 user error without traceback,
2 usage), JSON and CSV output, and every core command. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from decimal import Decimal
from importlib.metadata import version

import pytest
import yaml

from conftest import INPUTS, ROOT
from focus_builders import file_sums, record_count, row, write_csv

COST_KEYS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")


@pytest.fixture
def cfg(db_url, write_config):
    return write_config(db_url)


@pytest.fixture
def cli(run_cli, cfg):
    """cli(*args) with -c CONFIG appended; returns (code, stdout, stderr)."""

    def run(*args):
        return run_cli(*args, "-c", cfg)

    return run


def ok(result) -> str:
    code, out, err = result
    assert code == 0, err
    assert "Traceback" not in err
    return out


def user_error(result) -> str:
    code, out, err = result
    assert code == 1, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("error: ")
    return err


def usage_error(result) -> str:
    code, out, err = result
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    return err


def load_inputs(cli, period="2025-01"):
    for source in ("aws", "azure", "hpc", "storage", "it_storage"):
        ok(cli("ingest", INPUTS / f"{source}_{period}.csv", "-s", source, "-p", period))


# -- exit codes -------------------------------------------------------------------------------


def test_version(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"openchargeback {version('openchargeback')}"


def test_python_dash_m_user_error_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "openchargeback", "periods", "list", "-c", "/nonexistent/config.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr == "error: /nonexistent/config.yaml: configuration file not found\n"
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("no-such-command",),
        ("ingest",),
        ("ingest", "x.csv"),
        ("report", "totals"),
        ("imports", "show", "abc"),
        ("periods",),
        ("charges", "list", "--limit", "many"),
        ("ingest", "x.csv", "-s", "aws", "--no-such-option"),
    ],
)
def test_usage_errors_exit_2(run_cli, cfg, args):
    err = usage_error(run_cli(*args, *(["-c", cfg] if args else [])))
    if args:
        assert "Usage:" in err


def test_user_errors_exit_1_with_one_message(cli, tmp_path):
    bad = write_csv(tmp_path / "bad.csv", [row(BilledCost="1,5")])
    assert "unknown source 'gcp'" in user_error(cli("ingest", bad, "-s", "gcp"))
    assert "nope.csv: no such file" in user_error(cli("ingest", tmp_path / "nope.csv", "-s", "aws"))
    err = user_error(cli("ingest", bad, "-s", "aws"))
    assert "bad.csv:2: column BilledCost: '1,5': expected a decimal number" in err
    assert "period 2025-01 does not exist" in user_error(cli("report", "totals", "-p", "2025-01"))
    assert "YYYY-MM" in user_error(cli("report", "totals", "-p", "January"))
    assert "import #42 does not exist" in user_error(cli("imports", "show", "42"))
    assert "--by 'bogus'" in user_error(cli("report", "totals", "-p", "2025-01", "--by", "bogus"))


def test_closed_period_via_the_cli(cli, tmp_path):
    path = write_csv(tmp_path / "a.csv", [row()])
    ok(cli("ingest", path, "-s", "aws"))
    ok(cli("periods", "close", "2025-01"))
    err = user_error(cli("ingest", write_csv(tmp_path / "b.csv", [row(cost="2")]), "-s", "aws"))
    assert "period 2025-01 is closed" in err
    assert "needs a reason" in user_error(cli("periods", "reopen", "2025-01"))
    out = json.loads(ok(cli("periods", "reopen", "2025-01", "--reason", "late credit", "--json")))
    assert out["status"] == "open"
    assert out["history"][-1]["reason"] == "late credit"
    ok(cli("ingest", tmp_path / "b.csv", "-s", "aws"))


# -- ingest -----------------------------------------------------------------------------------


def test_ingest_json_and_duplicate(cli, tmp_path):
    path = write_csv(tmp_path / "aws.csv", [row(cost="1.5"), row(cost="-0.25"), row(tags=None)])
    out = json.loads(ok(cli("ingest", path, "-s", "aws", "-p", "2025-01", "--json")))
    assert out["status"] == "imported" and out["rows"] == 3 and out["flagged"] == 1
    assert out["periods"] == {"2025-01": 3}
    billed = next(t for t in out["totals"] if t["column"] == "BilledCost")
    assert Decimal(billed["stored_total"]) == Decimal(billed["file_total"]) == Decimal("11.25")
    assert isinstance(billed["stored_total"], str)
    again = json.loads(ok(cli("ingest", path, "-s", "aws", "--json")))
    assert again["status"] == "duplicate" and again["duplicate_of"] == out["import_id"]
    text = ok(cli("ingest", path, "-s", "aws"))
    assert f"already imported as import #{out['import_id']}" in text and "nothing changed" in text


def test_ingest_several_files_text_and_json(cli, tmp_path):
    a = write_csv(tmp_path / "a.csv", [row(cost="1")])
    b = write_csv(tmp_path / "b.csv", [row(cost="2"), row("2025-02", cost="3")])
    text = ok(cli("ingest", a, b, "-s", "aws", "-p", "2025-01"))
    assert "a.csv: imported 1 rows from source aws" in text
    assert "b.csv: imported 2 rows" in text and "2025-02 (1 rows)" in text
    assert "1 row(s) flagged for review" in text
    c = write_csv(tmp_path / "c.csv", [row(cost="4")])
    d = write_csv(tmp_path / "d.csv", [row(cost="5")])
    out = json.loads(ok(cli("ingest", c, d, "-s", "azure", "--json")))
    assert [r["file"] for r in out] == ["c.csv", "d.csv"]


def test_ingest_dry_run_skip_invalid_and_replace(cli, tmp_path):
    path = write_csv(tmp_path / "v1.csv", [row(cost="1"), row(BilledCost="x"), row(cost="2")])
    dry = json.loads(ok(cli("ingest", path, "-s", "aws", "--dry-run", "--skip-invalid", "--json")))
    assert dry["status"] == "dry-run" and dry["import_id"] is None and dry["rows"] == 2
    assert json.loads(ok(cli("imports", "list", "--json"))) == []
    text = ok(cli("ingest", path, "-s", "aws", "--skip-invalid"))
    assert "1 invalid row(s) skipped and recorded" in text
    assert "v1.csv:3: column BilledCost: 'x'" in text
    v2 = write_csv(tmp_path / "v2.csv", [row(cost="7")])
    out = json.loads(ok(cli("ingest", v2, "-s", "aws", "--replace", "--json")))
    assert out["replaced"] == [{"import_id": 1, "period": "2025-01", "rows_removed": 2}]
    totals = json.loads(ok(cli("report", "totals", "-p", "2025-01", "--json")))
    assert totals["billed_cost"] == "7.00"


# -- report totals ------------------------------------------------------------------------------


def test_report_totals_json(cli):
    load_inputs(cli)
    out = json.loads(ok(cli("report", "totals", "-p", "2025-01", "--json")))
    assert set(out) >= {"period", "currency", "rows", *COST_KEYS, "groups"}
    assert out["period"] == "2025-01" and out["currency"] == "USD" and out["groups"] == []
    expected = {k: Decimal(0) for k in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")}
    rows = 0
    for source in ("aws", "azure", "hpc", "storage", "it_storage"):
        path = INPUTS / f"{source}_2025-01.csv"
        for k, v in file_sums(path).items():
            expected[k] += v
        rows += record_count(path)
    assert out["rows"] == rows
    for key, column in zip(
        COST_KEYS, ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"), strict=True
    ):
        assert isinstance(out[key], str)
        assert Decimal(out[key]) == expected[column]


def test_report_totals_by_group(cli):
    load_inputs(cli)
    for by in ("source", "pi", "project", "fund", "service"):
        out = json.loads(ok(cli("report", "totals", "-p", "2025-01", "--by", by, "--json")))
        assert out["by"] == by and len(out["groups"]) > 1
        for g in out["groups"]:
            assert set(g) >= {"group", "rows", *COST_KEYS}
            assert all(isinstance(g[k], str) for k in COST_KEYS)
        for key in COST_KEYS:
            assert sum(Decimal(g[key]) for g in out["groups"]) == Decimal(out[key]), (by, key)
        assert sum(g["rows"] for g in out["groups"]) == out["rows"]
        billed = [Decimal(g["billed_cost"]) for g in out["groups"]]
        assert billed == sorted(billed, reverse=True)
        if by == "source":
            assert {g["group"] for g in out["groups"]} == {"aws", "azure", "hpc", "storage", "it_storage"}
        text = ok(cli("report", "totals", "-p", "2025-01", "--by", by))
        assert "TOTAL" in text and "period 2025-01, USD" in text


# -- charges list -------------------------------------------------------------------------------


def test_charges_list_csv_neutralises_formulas(cli, tmp_path):
    rows = [
        row(
            ResourceId='=HYPERLINK("http://evil")',
            cost="-5.25",
            ChargeCategory="Credit",
            tags={"pi_email": "+cmd|' /C calc'!A0", "project_id": "-2+3", "fund_org": "@SUM(A1)"},
        ),
        row(ResourceId="plain", ServiceName="=1+1", cost="3"),
    ]
    ok(cli("ingest", write_csv(tmp_path / "evil.csv", rows), "-s", "aws"))
    out = ok(cli("charges", "list", "--csv"))
    records = list(csv.DictReader(io.StringIO(out)))
    assert len(records) == 2
    first, second = records
    assert first["resource_id"] == '\'=HYPERLINK("http://evil")'
    assert first["pi_email"] == "'+cmd|' /C calc'!A0"
    assert first["project_id"] == "'-2+3"
    assert first["fund_org"] == "'@SUM(A1)"
    assert first["billed_cost"] == "-5.25"  # a negative amount is data, not a formula
    assert second["service_name"] == "'=1+1"
    assert second["resource_id"] == "plain" and second["billed_cost"] == "3.00"
    for rec in records:
        for value in rec.values():
            assert not value.startswith(("=", "+", "@")), value
            if value.startswith("-"):
                Decimal(value)


def test_charges_list_json_filters_and_pages(cli, tmp_path):
    rows = [row(cost=str(i), ResourceId=f"r{i}") for i in range(5)] + [
        row(ResourceId="untagged", tags=None),
        row(ResourceId="other-pi", tags={"pi_email": "b@x.edu", "project_id": "q", "fund_org": "g"}),
    ]
    ok(cli("ingest", write_csv(tmp_path / "a.csv", rows), "-s", "aws"))
    out = json.loads(ok(cli("charges", "list", "--json")))
    assert len(out["charges"]) == 7 and out["next_after"] is None
    c = out["charges"][0]
    assert c["billed_cost"] == "0.00" and c["line"] == 2 and c["source"] == "aws"
    assert c["tags"] == {"pi_email": "pi@example.edu", "project_id": "proj-1", "fund_org": "FUND-1"}
    flagged = json.loads(ok(cli("charges", "list", "--flagged", "--json")))["charges"]
    assert [x["resource_id"] for x in flagged] == ["untagged"]
    assert flagged[0]["flag_reasons"] == [
        "no PI email after tag mapping",
        "no project after tag mapping",
        "no fund/org after tag mapping",
    ]
    assert len(json.loads(ok(cli("charges", "list", "--not-flagged", "--json")))["charges"]) == 6
    by_pi = json.loads(ok(cli("charges", "list", "--pi", "b@x.edu", "--json")))["charges"]
    assert [x["resource_id"] for x in by_pi] == ["other-pi"]
    assert len(json.loads(ok(cli("charges", "list", "--project", "proj-1", "--json")))["charges"]) == 5
    assert (
        json.loads(ok(cli("charges", "list", "--fund", "g", "-s", "aws", "-p", "2025-01", "--json")))[
            "charges"
        ][0]["resource_id"]
        == "other-pi"
    )
    assert json.loads(ok(cli("charges", "list", "-p", "2030-01", "--json")))["charges"] == []
    page1 = json.loads(ok(cli("charges", "list", "--limit", "3", "--json")))
    assert len(page1["charges"]) == 3 and page1["next_after"] == page1["charges"][-1]["id"]
    page2 = json.loads(
        ok(cli("charges", "list", "--limit", "3", "--after", str(page1["next_after"]), "--json"))
    )
    assert page2["charges"][0]["id"] > page1["next_after"]
    text = ok(cli("charges", "list", "--limit", "3"))
    assert f"more: --after {page1['next_after']}" in text
    assert "unknown source 'nope'" in user_error(cli("charges", "list", "-s", "nope"))


# -- imports, periods, sources, db -----------------------------------------------------------------


def test_imports_list_and_show(cli, tmp_path):
    path = write_csv(tmp_path / "imp.csv", [row(cost="1.1234567890125"), row(BilledCost="bad")])
    ok(cli("ingest", path, "-s", "aws", "--skip-invalid"))
    listing = json.loads(ok(cli("imports", "list", "--json")))
    assert [(i["id"], i["file"], i["rows"], i["skipped"]) for i in listing] == [(1, "imp.csv", 1, 1)]
    assert listing[0]["periods"] == ["2025-01"] and listing[0]["status"] == "complete"
    assert json.loads(ok(cli("imports", "list", "-s", "azure", "--json"))) == []
    text = ok(cli("imports", "list"))
    assert "imp.csv" in text and "complete" in text
    shown = json.loads(ok(cli("imports", "show", "1", "--json")))
    assert shown["rounded_values"] == 4  # one value, in each of the four cost columns
    assert shown["skipped_lines"] == [
        {
            "line": 3,
            "column": "BilledCost",
            "value": "bad",
            "expected": "a decimal number such as 12.34 or 1.2e-7",
        }
    ]
    billed = next(t for t in shown["totals"] if t["column"] == "BilledCost")
    assert billed == {
        "currency": "USD",
        "column": "BilledCost",
        "file_total": "1.1234567890125",
        "stored_total": "1.123456789012",
    }
    text = ok(cli("imports", "show", "1"))
    assert "skipped line 3: column BilledCost: 'bad'" in text
    assert "rounded beyond 12 decimals" in text


def test_imports_show_replacement_both_ways(cli, tmp_path):
    ok(cli("ingest", write_csv(tmp_path / "v1.csv", [row(cost="1")]), "-s", "aws"))
    ok(cli("ingest", write_csv(tmp_path / "v2.csv", [row(cost="2")]), "-s", "aws", "--replace"))
    old = json.loads(ok(cli("imports", "show", "1", "--json")))
    new = json.loads(ok(cli("imports", "show", "2", "--json")))
    assert old["status"] == "replaced" and old["replaced_by"] == 2
    assert old["replaced_by_imports"] == [{"import_id": 2, "period": "2025-01", "rows_removed": 1}]
    assert new["replaced"] == [{"import_id": 1, "period": "2025-01", "rows_removed": 1}]
    assert "1 row(s) in 2025-01 replaced by import #2" in ok(cli("imports", "show", "1"))
    assert "replaced 1 row(s) of import #1 in 2025-01" in ok(cli("imports", "show", "2"))
    assert "replaced by #2" in ok(cli("imports", "list"))


def test_periods_lifecycle(cli):
    opened = json.loads(ok(cli("periods", "open", "2025-03", "--json")))
    assert opened["period"] == "2025-03" and opened["status"] == "open"
    assert opened["starts_at"].startswith("2025-03-01T00:00:00")
    assert "exists already" in user_error(cli("periods", "open", "2025-03"))
    assert json.loads(ok(cli("periods", "close", "2025-03", "--json")))["status"] == "closed"
    assert json.loads(ok(cli("periods", "finalize", "2025-03", "--json")))["status"] == "finalized"
    assert "reopen it first" in user_error(cli("periods", "close", "2025-03"))
    reopened = json.loads(ok(cli("periods", "reopen", "2025-03", "--reason", "fix", "--json")))
    assert [h["to"] for h in reopened["history"]] == ["open", "closed", "finalized", "open"]
    listing = json.loads(ok(cli("periods", "list", "--json")))
    assert [(p["period"], p["status"]) for p in listing] == [("2025-03", "open")]
    assert "2025-03  open" in ok(cli("periods", "list"))
    as_json = json.loads(ok(cli("periods", "show", "2025-03", "--json")))
    assert as_json["status"] == "open" and len(as_json["history"]) == 4
    assert as_json["history"][0] == {**as_json["history"][0], "from": None, "to": "open", "reason": "created"}
    shown = ok(cli("periods", "show", "2025-03"))
    assert shown.startswith("2025-03: open") and "finalized -> open" in shown and "(fix)" in shown
    assert "does not exist" in user_error(cli("periods", "show", "2025-04"))


def test_sources_list_and_add(cli):
    listing = json.loads(ok(cli("sources", "list", "--json")))
    assert {s["name"] for s in listing} == {"aws", "azure", "hpc", "storage", "it_storage", "focus"}
    assert all(s["from_config"] for s in listing)
    added = json.loads(
        ok(
            cli(
                "sources",
                "add",
                "GCP",
                "--display-name",
                "Google Cloud",
                "--file-pattern",
                "gcp_*.csv",
                "--cost-basis",
                "effective",
                "--gl-fund-org",
                "RC-1",
                "--gl-account",
                "4410",
                "--json",
            )
        )
    )
    assert added == {
        "name": "gcp",
        "display_name": "Google Cloud",
        "file_pattern": "gcp_*.csv",
        "cost_basis": "effective",
        "gl_fund_org": "RC-1",
        "gl_account": "4410",
        "from_config": False,
    }
    assert "exists already" in user_error(cli("sources", "add", "gcp"))
    assert "exists already" in user_error(cli("sources", "add", "AWS"))
    assert "cost basis 'monthly'" in user_error(cli("sources", "add", "oci", "--cost-basis", "monthly"))
    assert "source name" in user_error(cli("sources", "add", "bad name!"))
    text = ok(cli("sources", "list"))
    assert "Google Cloud" in text and "database" in text and "config" in text
    assert "added source oci" in ok(cli("sources", "add", "oci"))


def test_added_source_can_be_ingested(cli, tmp_path):
    ok(cli("sources", "add", "gcp"))
    out = json.loads(ok(cli("ingest", write_csv(tmp_path / "g.csv", [row()]), "-s", "gcp", "--json")))
    assert out["source"] == "gcp" and out["rows"] == 1


def test_db_upgrade(cli):
    first = ok(cli("db", "upgrade"))
    assert first.startswith("database at revision ") and first.rstrip().endswith("(was empty)")
    revision = first.split()[3]
    assert ok(cli("db", "upgrade")) == f"database at revision {revision}\n"  # nothing to do
    ok(cli("periods", "list"))  # and the migrated database is usable


# -- configuration ------------------------------------------------------------------------------


def test_missing_config_file_names_it(run_cli, tmp_path):
    missing = tmp_path / "nowhere.yaml"
    err = user_error(run_cli("periods", "list", "-c", missing))
    assert f"{missing}: configuration file not found" in err


def test_no_config_at_all(run_cli, monkeypatch):
    monkeypatch.delenv("OPENCHARGEBACK_CONFIG", raising=False)
    assert "pass -c CONFIG" in user_error(run_cli("periods", "list"))


def test_config_from_environment_variable(run_cli, cfg, monkeypatch):
    monkeypatch.setenv("OPENCHARGEBACK_CONFIG", str(cfg))
    assert json.loads(ok(run_cli("periods", "list", "--json"))) == []


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"databse": {"url": "sqlite://"}}, "databse: unknown key"),
        ({"database": {"url": "sqlite://", "pool": 5}}, "database.pool: unknown key"),
        ({"tag_mapping": {"pi": "x"}}, "tag_mapping.pi: unknown key"),
        ({"sources": [{"name": "aws", "colour": "red"}]}, "sources.0.colour: unknown key"),
        ({"sources": [{"name": "aws", "cost_basis": "list"}]}, "sources.0.cost_basis"),
        ({"sources": "aws"}, "sources:"),
        ({"currency": "dollars"}, "currency:"),
        ({"sources": [{"name": "aws"}, {"name": "AWS"}]}, "declared twice"),
    ],
)
def test_bad_config_names_file_and_key(run_cli, tmp_path, settings, words):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(settings))
    err = user_error(run_cli("periods", "list", "-c", path))
    assert str(path) in err and words in err


def test_config_not_yaml_or_not_a_mapping(run_cli, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("database: [unclosed\n")
    assert f"{path}: not valid YAML" in user_error(run_cli("periods", "list", "-c", path))
    path.write_text("- a\n- b\n")
    assert "mapping of settings" in user_error(run_cli("periods", "list", "-c", path))


def test_env_expansion(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OCB_TEST_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("OCB_TEST_NAME", "Expanded Cloud")
    monkeypatch.delenv("OCB_TEST_UNSET", raising=False)
    path = tmp_path / "env.yaml"
    path.write_text(
        "database:\n  url: sqlite:///${OCB_TEST_DIR}/billing.db\n"
        "sources:\n  - name: cloud\n    display_name: ${OCB_TEST_NAME}\n"
        "    gl_account: ${OCB_TEST_UNSET:-4410}\n"
    )
    listing = json.loads(ok(run_cli("sources", "list", "--json", "-c", path)))
    assert listing[0]["display_name"] == "Expanded Cloud"
    assert listing[0]["gl_account"] == "4410"
    assert (tmp_path / "from-env" / "billing.db").is_file()
    path.write_text("database:\n  url: sqlite:///${OCB_TEST_UNSET}/billing.db\n")
    err = user_error(run_cli("periods", "list", "-c", path))
    assert str(path) in err and "database.url" in err and "OCB_TEST_UNSET is not set" in err


def test_unsupported_database_url(run_cli, tmp_path):
    path = tmp_path / "db.yaml"
    path.write_text("database:\n  url: mysql://localhost/billing\n")
    assert "only sqlite:// and postgresql+psycopg://" in user_error(run_cli("periods", "list", "-c", path))


def test_minimal_columns_through_the_cli(cli, tmp_path):
    header = ["BillingPeriodStart", "BillingPeriodEnd", "BilledCost"]
    path = write_csv(tmp_path / "min.csv", [row(cost="4.5")], header)
    out = json.loads(ok(cli("ingest", path, "-s", "aws", "--json")))
    assert out["rows"] == 1 and out["flagged"] == 1
