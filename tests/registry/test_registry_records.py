"""PIs, projects and funds: add, edit, import (all or nothing, bad rows by line), export."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from openchargeback.domain.errors import Conflict, FileRefused, InvalidInput, NotFound
from openchargeback.services import audit
from openchargeback.services.registry import records as reg


def test_add_edit_and_list(ctx):
    pi = reg.add_record(
        ctx,
        "pis",
        {"email": " PI@Example.EDU ", "name": "Ada", "billing_contacts": "a@x.edu; b@x.edu,a@x.edu"},
    )
    assert pi.email == "pi@example.edu" and pi.billing_contacts == ("a@x.edu", "b@x.edu")
    assert reg.billing_contacts(ctx, ["Pi@Example.edu", "nobody@x.edu"]) == {
        "pi@example.edu": ("a@x.edu", "b@x.edu")
    }
    reg.add_record(
        ctx,
        "funds",
        {
            "code": "NSF-1",
            "valid_from": "2024-07-01",
            "valid_to": "2025-06-30",
            "budget": "1000.50",
            "budget_per": "fiscal-year",
        },
    )
    p = reg.add_record(
        ctx,
        "projects",
        {"project_id": "proj-1", "pi_email": "pi@example.edu", "default_fund": "NSF-1", "budget": "100"},
    )
    assert p.status == "active" and p.budget == Decimal(100) and p.budget_per == "period"
    with pytest.raises(Conflict, match="already in the registry"):
        reg.add_record(ctx, "projects", {"project_id": "proj-1", "pi_email": "pi@example.edu"})
    with pytest.raises(NotFound, match="PI nobody@x.edu is not in the registry"):
        reg.add_record(ctx, "projects", {"project_id": "proj-2", "pi_email": "nobody@x.edu"})
    with pytest.raises(NotFound, match="default fund NOPE"):
        reg.add_record(
            ctx, "projects", {"project_id": "proj-2", "pi_email": "pi@example.edu", "default_fund": "NOPE"}
        )
    with pytest.raises(InvalidInput, match="pi_email is required"):
        reg.add_record(ctx, "projects", {"project_id": "proj-2"})

    edited = reg.edit_record(
        ctx,
        "projects",
        "proj-1",
        {"status": "closed", "end_date": "2025-12-31", "budget": "", "budget_per": ""},
    )
    assert edited.status == "closed" and edited.end_date == date(2025, 12, 31) and edited.budget is None
    with pytest.raises(InvalidInput, match="end_date 2023-01-01 is before start_date 2024-01-01"):
        reg.edit_record(ctx, "projects", "proj-1", {"start_date": "2024-01-01", "end_date": "2023-01-01"})
    with pytest.raises(InvalidInput, match="budget_per 'period' is given without a budget"):
        reg.edit_record(ctx, "projects", "proj-1", {"budget_per": "period"})
    with pytest.raises(InvalidInput, match="valid_to 2020-01-01 is before valid_from"):
        reg.edit_record(ctx, "funds", "NSF-1", {"valid_to": "2020-01-01"})
    with pytest.raises(NotFound):
        reg.edit_record(ctx, "funds", "NOPE", {"description": "x"})
    assert [r.project_id for r in reg.list_records(ctx, "projects", status="closed")] == ["proj-1"]
    assert reg.list_records(ctx, "projects", status="active") == ()
    actions = {e.action for e in audit.list_entries(ctx).entries}
    assert {"registry.pis.add", "registry.projects.add", "registry.projects.edit"} <= actions


GOOD_PIS = "email,name,department,billing_contacts\npi@x.edu,Ada,Physics,admin@x.edu\nbob@x.edu,Bob,,\n"


def test_import_reports_every_bad_row_and_imports_nothing(ctx, tmp_path):
    f = tmp_path / "pis.csv"
    f.write_text(GOOD_PIS + "not-an-email,Bad,,\n\ncarl@x.edu,Carl,,x@y\nPI@x.edu,Dup,,\n")
    with pytest.raises(FileRefused) as exc:
        reg.import_csv(ctx, "pis", f)
    msg = exc.value.message
    assert "3 problem(s); nothing was imported" in msg
    assert "pis.csv:4: email 'not-an-email': not an email address" in msg
    assert "pis.csv:6: billing_contacts 'x@y'" in msg
    assert "pis.csv:7: email pi@x.edu is also on line 2" in msg
    assert reg.list_records(ctx, "pis") == ()

    f.write_text(GOOD_PIS)
    rep = reg.import_csv(ctx, "pis", f)
    assert rep.added == ("pi@x.edu", "bob@x.edu") and rep.updated == () and rep.unchanged == 0
    f.write_text("email,department\npi@x.edu,Chemistry\nbob@x.edu,\n")  # name column left out: kept
    rep = reg.import_csv(ctx, "pis", f)
    assert rep.updated == ("pi@x.edu",) and rep.unchanged == 1
    assert reg.get_record(ctx, "pis", "pi@x.edu").name == "Ada"
    assert reg.get_record(ctx, "pis", "pi@x.edu").department == "Chemistry"


def test_project_import_checks_references_with_line_numbers(ctx, tmp_path):
    reg.add_record(ctx, "pis", {"email": "pi@x.edu"})
    reg.add_record(ctx, "funds", {"code": "F-1"})
    f = tmp_path / "projects.csv"
    f.write_text(
        "project_id,pi_email,default_fund,status,start_date,budget\n"
        "p1,pi@x.edu,F-1,active,2025-01-01,100\n"
        "p2,ghost@x.edu,F-1,,,\n"
        "p3,pi@x.edu,F-404,,,\n"
        "p4,pi@x.edu,,paused,,\n"
        "p5,pi@x.edu,,,2025-13-01,-5\n"
        "p6,pi@x.edu\n"
    )
    with pytest.raises(FileRefused) as exc:
        reg.import_csv(ctx, "projects", f)
    lines = exc.value.problems
    assert [p.split(":")[1] for p in lines] == ["3", "4", "5", "6", "7"]
    assert "PI ghost@x.edu is not in the registry" in lines[0]
    assert "default fund F-404" in lines[1]
    assert "status 'paused'" in lines[2]
    assert "start_date '2025-13-01'" in lines[3] and "budget '-5'" in lines[3]
    assert "2 cell(s), the header has 6" in lines[4]
    assert reg.list_records(ctx, "projects") == ()


@pytest.mark.parametrize(
    "text,words",
    [
        ("", "the file is empty"),
        ("name,email,colour\n", r"unknown column\(s\) colour"),
        ("name\nAda\n", "no email column"),
        ("email,email\n", "named twice"),
    ],
)
def test_import_refuses_bad_headers(ctx, tmp_path, text, words):
    f = tmp_path / "pis.csv"
    f.write_text(text)
    with pytest.raises(FileRefused, match=words):
        reg.import_csv(ctx, "pis", f)


def test_export_round_trips(ctx, tmp_path):
    reg.add_record(
        ctx, "pis", {"email": "pi@x.edu", "name": "Ada, Countess", "billing_contacts": "a@x.edu;b@x.edu"}
    )
    reg.add_record(ctx, "funds", {"code": "F-1", "valid_to": "2025-06-30", "budget": "12.345"})
    for kind in ("pis", "funds"):
        text = reg.export_csv(ctx, kind)
        f = tmp_path / f"{kind}.csv"
        f.write_text(text)
        rep = reg.import_csv(ctx, kind, f)
        assert rep.added == () and rep.updated == () and rep.unchanged == 1
    assert '"Ada, Countess"' in reg.export_csv(ctx, "pis")


def test_cli_registry_commands(db_url, write_config, run_cli, tmp_path):
    cfg = write_config(db_url)
    assert run_cli("pis", "add", "pi@x.edu", "--name", "Ada", "--contact", "c@x.edu", "-c", cfg)[0] == 0
    assert run_cli("funds", "add", "F-1", "--valid-to", "2025-06-30", "-c", cfg)[0] == 0
    code, out, err = run_cli(
        "projects",
        "add",
        "p1",
        "--pi",
        "pi@x.edu",
        "--default-fund",
        "F-1",
        "--budget",
        "500",
        "--budget-per",
        "fiscal-year",
        "--json",
        "-c",
        cfg,
    )
    assert code == 0, err
    assert json.loads(out)[0]["budget_per"] == "fiscal_year"
    code, out, err = run_cli("projects", "add", "p2", "--pi", "ghost@x.edu", "-c", cfg)
    assert code == 1 and err.startswith("error: project p2: PI ghost@x.edu") and "Traceback" not in err
    code, out, _ = run_cli(
        "projects", "edit", "p1", "--end", "2026-01-31", "--budget", "", "--json", "-c", cfg
    )
    assert code == 0 and json.loads(out)[0]["budget"] == "" and json.loads(out)[0]["end_date"] == "2026-01-31"
    code, out, _ = run_cli("pis", "edit", "pi@x.edu", "--clear-contacts", "--json", "-c", cfg)
    assert json.loads(out)[0]["billing_contacts"] == ""
    out_file = tmp_path / "projects.csv"
    assert run_cli("projects", "export", "-o", out_file, "-c", cfg)[0] == 0
    assert out_file.read_text().startswith("project_id,pi_email,name,status")
    code, out, _ = run_cli("projects", "import", out_file, "--json", "-c", cfg)
    assert code == 0 and json.loads(out)["unchanged"] == 1
    code, out, _ = run_cli("funds", "list", "--json", "-c", cfg)
    assert json.loads(out) == [
        {
            "code": "F-1",
            "description": "",
            "valid_from": "",
            "valid_to": "2025-06-30",
            "budget": "",
            "budget_per": "",
        }
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("code,valid_from\nF-2,yesterday\n")
    code, _, err = run_cli("funds", "import", bad, "-c", cfg)
    assert code == 1 and "bad.csv:2: valid_from 'yesterday'" in err


def test_a_pi_address_with_a_control_character_is_refused_at_entry(ctx):
    """The registry takes a PI only with exactly one address, by the same rule as every
    envelope recipient (domain/addresses.py): a control character cannot get in."""
    with pytest.raises(InvalidInput, match="not an email address"):
        reg.add_record(ctx, "pis", {"email": "pi\x07@example.edu", "name": "Ada"})
    assert reg.list_records(ctx, "pis") == ()
