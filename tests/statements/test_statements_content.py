"""What a statement and its email tell the PI besides the lines: the grant and reference
numbers of the charges (the sample's grant_number and request_id tags), the funds charged
and how much (with the registry's description), the period's close date, the PI's name
from the registry; the email names each project's fund."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

from openchargeback.services.registry import records as reg
from openchargeback.services.statements import reading as views
from openchargeback.services.statements.delivery import send_period
from openchargeback.services.statements.generation import generate

from .conftest import FIXED_NOW, close, load_sample
from .pdf_text import pdf_text

PI = "quib.flannister@example.edu"


def test_statement_and_email_name_grants_funds_close_date_and_the_pi(db_url, make_stmt_ctx):
    ctx = make_stmt_ctx(db_url, dev_mode=True)  # email goes to the outbox folder
    load_sample(ctx)
    reg.add_record(ctx, "pis", {"email": PI, "name": "Quib Flannister"})
    reg.add_record(ctx, "funds", {"code": "NOAA-CPO-2024", "description": "NOAA Climate Program Office"})
    close(ctx)
    result = generate(ctx, "2025-01", pi=PI)
    by_project = {s.project_id: s for s in result.statements}
    assert set(by_project) == {"climate-modeling", "ocean-circulation"}

    ocean = views.get_statement(ctx, by_project["ocean-circulation"].number).data
    assert ocean["references"] == [
        {"label": "Grant number", "numbers": ["NA24OAR4310123"]},
        {"label": "Request id", "numbers": ["REQ-2024-00167"]},
    ]
    assert ocean["charged_to"] == [
        {"fund": "NOAA-CPO-2024", "description": "NOAA Climate Program Office", "due": ocean["totals"]["due"]}
    ]
    assert ocean["period"]["closed"] == FIXED_NOW.isoformat()
    assert ocean["pi_name"] == "Quib Flannister"
    text = pdf_text(Path(by_project["ocean-circulation"].path).read_bytes())
    for shown in (
        "Grant number NA24OAR4310123",
        "Request id REQ-2024-00167",
        "Quib Flannister",
        "fund/org NOAA-CPO-2024 (NOAA Climate Program Office)",
        "in the journal of period 2025-01, closed on 3 Feb 2025",
    ):
        assert shown in text, shown

    climate = views.get_statement(ctx, by_project["climate-modeling"].number).data
    assert climate["references"] == []  # its charges carry no grant number
    assert [c["fund"] for c in climate["charged_to"]] == ["NSF-ATM-2024"]
    assert "Grant number" not in pdf_text(Path(by_project["climate-modeling"].path).read_bytes())

    report = send_period(ctx, "2025-01")
    (message,) = report.messages
    msg = BytesParser(policy=policy.default).parsebytes(Path(message.outbox_path).read_bytes())
    body = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert body.startswith("Dear Quib Flannister,") and "Dear Quib Flannister," in html
    assert "ocean-circulation" in body and "fund/org NOAA-CPO-2024" in body
    assert "climate-modeling" in body and "fund/org NSF-ATM-2024" in body
    assert "NOAA-CPO-2024" in html and "NSF-ATM-2024" in html


def test_a_line_with_a_funded_subsidy_names_who_pays_it(sqlite_url, make_stmt_ctx):
    from openchargeback.services.statements import context_for, renderer_for

    ctx = make_stmt_ctx(sqlite_url)
    load_sample(ctx)
    close(ctx)
    (s,) = generate(ctx, "2025-01", project="climate-modeling").statements
    data = views.get_statement(ctx, s.number).data
    subsidised = next(ln for ln in data["lines"] if ln["fully_subsidised"])  # HPC: 100 % subsidised
    plain = next(ln for ln in data["lines"] if not ln["fully_subsidised"])
    shown = [ln for b in data["fund_blocks"] for ln in b["lines"]]  # what the template prints
    for ln in shown:  # as the allocation marks the lines of a source with a funded subsidy
        ln["subsidy_fund_org"], ln["subsidy_description"] = "PROVOST-HPC", "Provost's HPC fund"
        if ln["service"] == plain["service"]:
            ln["discount"] = "0.00"  # nothing subsidised: nothing said
    renderer = renderer_for(ctx.settings)
    html = renderer.statement_html(context_for(renderer, data))
    count = sum(1 for ln in shown if ln["discount"] != "0.00")
    assert count and count < len(shown) and subsidised["service"] in html
    assert html.count("subsidised by PROVOST-HPC (Provost&#39;s HPC fund)") == count


def test_a_generated_statement_names_the_fund_that_pays_a_funded_subsidy(sqlite_url, make_stmt_ctx):
    funded = {"hpc": {"subsidy_fund_org": "PROVOST-HPC", "subsidy_account": "7920"}}
    ctx = make_stmt_ctx(sqlite_url, journal={"sources": funded})
    load_sample(ctx)
    close(ctx)
    (s,) = generate(ctx, "2025-01", project="climate-modeling").statements
    lines = views.get_statement(ctx, s.number).data["lines"]
    hpc = [ln for ln in lines if ln["source"] == "HPC Cluster" and ln["discount"] != "0.00"]
    assert hpc and {ln.get("subsidy_fund_org") for ln in hpc} == {"PROVOST-HPC"}
    assert all("subsidy_fund_org" not in ln for ln in lines if ln["source"] != "HPC Cluster")
    assert "subsidised by PROVOST-HPC" in " ".join(pdf_text(Path(s.path).read_bytes()).split())
