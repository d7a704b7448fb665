"""Budgets: spend against budget per period and per fiscal year; alerts raised and
emailed exactly once per threshold."""

from __future__ import annotations

import json
from decimal import Decimal
from email.message import EmailMessage

import pytest
from registry_helpers import charge, ingest_rows, registry

from openchargeback.services.registry import records as reg
from openchargeback.services.registry.adjustments import add_adjustment
from openchargeback.services.registry.budgets import budget_status, check_alerts, list_alerts
from openchargeback.services.registry.splits import set_split

D = Decimal


class RecordingSender:
    def __init__(self, fail: bool = False):
        self.sent: list[EmailMessage] = []
        self.fail = fail

    def send(self, message: EmailMessage) -> None:
        if self.fail:
            raise OSError("SMTP server unreachable")
        self.sent.append(message)


def _setup(ctx, tmp_path):
    registry(ctx)
    reg.edit_record(ctx, "projects", "proj-1", {"budget": "100", "budget_per": "period"})
    reg.edit_record(ctx, "funds", "NSF-123", {"budget": "200", "budget_per": "fiscal_year"})
    set_split(ctx, "proj-1", [("NSF-123", D(50)), ("DEPT-9", D(50))], "2024-07", "2025-06")


def test_spend_against_budget(make_ctx, db_url, tmp_path):
    journal = {"adjustment_fund_org": "RC-ADMIN", "adjustment_account": "4400"}  # for the adjustment
    ctx = make_ctx(db_url, budgets={"fiscal_year_start_month": 7}, journal=journal)
    assert budget_status(ctx) == ()  # no period yet
    _setup(ctx, tmp_path)
    ingest_rows(ctx, tmp_path, [charge("2025-05", "60.00", project_id="proj-1")])
    ingest_rows(
        ctx,
        tmp_path,
        [
            charge("2025-06", "50.00", project_id="proj-1"),
            charge("2025-06", "999.00", project_id="proj-2", fund_org="NSF-123"),
        ],
    )
    add_adjustment(ctx, "2025-06", "-10.00", "credit", project_id="proj-1")
    got = {(s.holder_kind, s.holder): s for s in budget_status(ctx, "2025-06")}
    p, f = got[("project", "proj-1")], got[("fund", "NSF-123")]
    assert (p.span, p.spend, p.percent, p.reached) == ("2025-06", D("40.00"), D("40.0"), ())
    # FY2025 = 2024-07..2025-06: half of proj-1's 60 + 40, and all of proj-2's 999 on NSF-123
    assert (f.span, f.first_period, f.last_period) == ("FY2025", "2024-07", "2025-06")
    assert f.spend == D("30.00") + D("20.00") + D("999.00") and f.reached == (80, 100)
    assert f.as_json()["remaining"] == "-849.00"


def test_alerts_are_raised_and_sent_exactly_once(make_ctx, db_url, tmp_path):
    ctx = make_ctx(
        db_url, budgets={"fiscal_year_start_month": 7, "alert_thresholds": [80, 100], "email_alerts": True}
    )
    _setup(ctx, tmp_path)
    ingest_rows(ctx, tmp_path, [charge("2025-06", "85.00", project_id="proj-1")])
    # the import raised the alert (for the dashboard); the check emails it
    (raised,) = list_alerts(ctx)
    assert (raised.holder, raised.threshold, raised.notified_at) == ("proj-1", 80, None)
    assert raised.recipients == ("pi@example.edu", "admin@example.edu")
    sender = RecordingSender()
    first = check_alerts(ctx, "2025-06", sender)
    assert first.raised == () and first.notified == 1 and first.unsent == 0
    msg = sender.sent[0]
    assert msg["To"] == "pi@example.edu" and msg["Cc"] == "admin@example.edu"
    assert "80%" in msg["Subject"] and "85.00" in msg.get_content()
    again = check_alerts(ctx, "2025-06", sender)
    assert again.raised == () and again.notified == 0 and len(sender.sent) == 1

    ingest_rows(ctx, tmp_path, [charge("2025-06", "20.00", project_id="proj-1")])
    assert [(a.holder, a.threshold) for a in list_alerts(ctx)][0] == ("proj-1", 100)
    third = check_alerts(ctx, "2025-06", sender)
    assert third.raised == () and third.notified == 1
    assert len(sender.sent) == 2
    check_alerts(ctx, "2025-06", sender)
    assert len(sender.sent) == 2
    assert [(a.threshold, a.notified_at is not None) for a in list_alerts(ctx)] == [(100, True), (80, True)]


def test_failed_email_is_retried_not_duplicated(make_ctx, db_url, tmp_path):
    ctx = make_ctx(db_url, budgets={"email_alerts": True})
    _setup(ctx, tmp_path)
    ingest_rows(ctx, tmp_path, [charge("2025-06", "150.00", project_id="proj-1")])
    broken = RecordingSender(fail=True)
    assert len(list_alerts(ctx)) == 2  # raised by the import
    res = check_alerts(ctx, "2025-06", broken)
    assert res.raised == () and res.notified == 0 and res.unsent == 2
    assert "SMTP server unreachable" in res.failed[0]
    fixed = RecordingSender()
    res = check_alerts(ctx, "2025-06", fixed)
    assert res.raised == () and res.notified == 2 and res.unsent == 0
    assert [m["Subject"].split("used ")[1][:4] for m in fixed.sent] == ["80% ", "100%"]
    check_alerts(ctx, "2025-06", fixed)
    assert len(fixed.sent) == 2


def test_without_email_alerts_are_only_recorded(ctx, tmp_path, write_config, run_cli, db_url):
    _setup(ctx, tmp_path)
    ingest_rows(ctx, tmp_path, [charge("2025-06", "90.00", project_id="proj-1")])
    sender = RecordingSender()
    (raised,) = list_alerts(ctx)  # raised by the import
    assert raised.threshold == 80 and raised.recipients == ()
    res = check_alerts(ctx, None, sender)  # the latest period
    assert res.period == "2025-06" and res.raised == ()
    assert sender.sent == [] and res.unsent == 0
    cfg = write_config(db_url)
    code, out, err = run_cli("budgets", "alerts", "--check", "--json", "-c", cfg)
    assert code == 0, err
    data = json.loads(out)
    assert data["check"]["raised"] == [] and [a["threshold"] for a in data["alerts"]] == [80]
    code, out, _ = run_cli("budgets", "show", "-p", "2025-06", "--json", "-c", cfg)
    assert {(b["holder"], b["percent"]) for b in json.loads(out)} >= {("proj-1", "90.00")}


@pytest.mark.parametrize("thresholds", [[0], [2000]])
def test_threshold_settings_are_checked(thresholds, db_url):
    from pydantic import ValidationError

    from openchargeback.config import Settings

    with pytest.raises(ValidationError):
        Settings.model_validate({"database": {"url": db_url}, "budgets": {"alert_thresholds": thresholds}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"budgets": {"colour": "red"}})


def test_cli_check_emails_alerts_through_the_dev_outbox(make_ctx, db_url, tmp_path, write_config, run_cli):
    outbox = tmp_path / "outbox"
    settings = {"budgets": {"email_alerts": True}, "dev_mode": True, "email": {"outbox_dir": str(outbox)}}
    ctx = make_ctx(db_url, **settings)
    _setup(ctx, tmp_path)
    ingest_rows(ctx, tmp_path, [charge("2025-06", "85.00", project_id="proj-1")])
    cfg = write_config(db_url, **settings)
    code, out, err = run_cli("budgets", "alerts", "--check", "--json", "-c", cfg)
    assert code == 0, err
    assert json.loads(out)["check"]["notified"] == 1
    (eml,) = list(outbox.glob("*.eml"))
    assert "80%" in eml.read_text() and "pi@example.edu" in eml.read_text()
    code, out, _ = run_cli("budgets", "alerts", "--check", "--json", "-c", cfg)
    assert json.loads(out)["check"]["notified"] == 0 and len(list(outbox.glob("*.eml"))) == 1
