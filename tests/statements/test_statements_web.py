"""The web Statements page: generate as a background job with progress, the list, the
preview (the statement's own template) and PDF download, send all unsent and send one,
the email log with each recipient's outcome, resend and the in-doubt decisions; viewers
read but cannot generate or send."""

from __future__ import annotations

import re
import time

import pytest

from openchargeback.services.periods import change_status
from web.cli_words import cli_syntax

from .conftest import statement_settings


def _wait(client, html: str, timeout: float = 120) -> str:
    job = re.search(r'id="statement-job-(\d+)"', html).group(1)
    deadline = time.monotonic() + timeout
    while 'data-status="running"' in html or 'data-status="queued"' in html:
        assert time.monotonic() < deadline, "statement job did not finish"
        time.sleep(0.3)
        html = client.get(f"/statements/jobs/{job}").text
    assert 'data-status="done"' in html, html
    return html


@pytest.fixture
def site(tmp_path, smtp_server):
    from fastapi.testclient import TestClient

    from openchargeback.web.app import create_app
    from web.conftest import csrf_of, login, seed, web_settings

    extra = statement_settings(tmp_path, email={"smtp_port": smtp_server.port})
    settings = web_settings(tmp_path, **extra)
    seed(settings, files=("hpc_2025-01.csv", "storage_2025-01.csv"))
    app = create_app(settings)
    clients = {}
    for role in ("admin", "viewer"):
        c = TestClient(app, base_url="https://testserver")
        assert login(c, role).status_code == 303
        c.csrf = csrf_of(c)
        clients[role] = c
    yield app, clients
    app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


def test_generate_preview_download_send_and_resend(site, smtp_server):
    app, clients = site
    admin, viewer = clients["admin"], clients["viewer"]
    assert "No statements for 2025-01 yet" in viewer.get("/statements?period=2025-01").text
    r = viewer.post("/statements/generate", data={"period": "2025-01", "csrf_token": viewer.csrf})
    assert r.status_code == 403

    # an open period: Generate is disabled with the reason, and a request is refused at
    # once (no job that could only fail), in the flash of the page it came from
    page = admin.get("/statements?period=2025-01").text
    assert re.search(r'id="statements-generate-button" disabled', page) and 'id="generate-why"' in page
    r = admin.post(
        "/statements/generate",
        data={"period": "2025-01", "csrf_token": admin.csrf},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 409 and r.headers["HX-Retarget"] == "#flash"
    assert "is open: statements are generated once an admin has closed it" in r.text
    r = admin.post("/statements/generate", data={"period": "2025-01", "csrf_token": admin.csrf})
    assert r.status_code == 409 and 'id="action-refused"' in r.text and 'id="statements-table"' in r.text
    assert "is open: statements are generated" in r.text and not cli_syntax(r.text)

    change_status(app.state.ctx, "2025-01", "close", "tests", force=True)
    r = admin.post(
        "/statements/generate",
        data={"period": "2025-01", "csrf_token": admin.csrf},
        headers={"HX-Request": "true"},
    )
    done = _wait(admin, r.text)
    assert "new or new versions" in done
    page = viewer.get("/statements?period=2025-01").text
    numbers = sorted(set(re.findall(r'id="statement-(RC-202501-\d{4})-v1"', page)))
    assert numbers and '<span class="muted">not sent</span>' in page
    assert "statements-generate-button" not in page  # viewers do not get the forms

    preview = viewer.get(f"/statements/{numbers[0]}/preview")
    assert preview.status_code == 200 and numbers[0] in preview.text
    assert "style-src 'unsafe-inline'" in preview.headers["content-security-policy"]
    assert "script-src" not in preview.headers["content-security-policy"]
    pdf = viewer.get(f"/statements/{numbers[0]}/pdf?version=1")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert f"{numbers[0]}-v1.pdf" in pdf.headers["content-disposition"]

    r = admin.post(
        "/statements/send",
        data={"period": "2025-01", "csrf_token": admin.csrf},
        headers={"HX-Request": "true"},
    )
    assert "message(s) sent, 0 failed" in _wait(admin, r.text)
    pis = {m["message"]["To"] for m in smtp_server.messages}
    assert len(smtp_server.messages) == len(pis) > 0
    page = admin.get("/statements?period=2025-01").text
    assert '<span class="muted">not sent</span>' not in page and 'data-status="sent"' in page

    # Send one again; the server refuses it permanently; the log offers a resend.
    smtp_server.plan = ["550 5.1.1 mailbox unavailable"]
    pi = sorted(pis)[0]
    r = admin.post(
        "/statements/send",
        data={"period": "2025-01", "pi": pi, "resend": "true", "csrf_token": admin.csrf},
        headers={"HX-Request": "true"},
    )
    assert "0 message(s) sent, 1 failed" in _wait(admin, r.text)
    page = admin.get("/statements?period=2025-01").text
    failed_id = re.search(r'<tr id="message-(\d+)" data-status="failed"', page).group(1)
    assert f'id="resend-{failed_id}"' in page and "550" in page
    r = admin.post(
        f"/statements/messages/{failed_id}/resend", data={"csrf_token": admin.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    page = admin.get("/statements?period=2025-01").text
    assert f'id="resend-{failed_id}"' not in page and f"(resend of {failed_id})" in page
    assert smtp_server.messages[-1]["message"]["To"] == pi


@pytest.fixture
def fault_site(tmp_path, fault_smtp):
    from fastapi.testclient import TestClient

    from openchargeback.web.app import create_app
    from web.conftest import csrf_of, login, seed, web_settings

    from .conftest import fault_email

    settings = web_settings(tmp_path, **statement_settings(tmp_path, email=fault_email(fault_smtp)))
    seed(settings, files=("hpc_2025-01.csv",))
    app = create_app(settings)
    admin = TestClient(app, base_url="https://testserver")
    assert login(admin, "admin").status_code == 303
    admin.csrf = csrf_of(admin)
    yield app, admin
    app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


def test_the_email_log_shows_each_recipient_and_the_in_doubt_decisions(fault_site, fault_smtp):
    from openchargeback.services.statements import generate, send_period

    app, admin = fault_site
    ctx = app.state.ctx
    change_status(ctx, "2025-01", "close", "tests", force=True)
    made = generate(ctx, "2025-01")
    pis = sorted({s.pi_email for s in made.statements if s.pi_email})
    refused = pis[0]  # the next PI's message is in doubt: its final reply comes too late
    fault_smtp.plan(rcpt={refused: "550 5.1.1 no such mailbox"}, data=["delay:2"])
    report = send_period(ctx, "2025-01")
    by_pi = {m.pi_email: m for m in report.messages}
    doubt = next(m for m in report.messages if m.status == "in_doubt")
    assert by_pi[refused].status == "failed"

    page = admin.get("/statements?period=2025-01").text
    row = page[page.index(f'id="message-{by_pi[refused].id}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-outcome="refused_permanent"' in row and "550 5.1.1 no such mailbox" in row
    assert f'id="resend-{by_pi[refused].id}"' in row
    assert f'id="delivered-{doubt.id}"' in page and f'id="resend-in-doubt-{doubt.id}"' in page
    assert f'id="resend-{doubt.id}"' not in page  # no plain resend for an in-doubt message

    r = admin.post(f"/statements/messages/{doubt.id}/resend", data={"csrf_token": admin.csrf})
    assert r.status_code == 409 and "in doubt" in r.text
    r = admin.post(
        f"/statements/messages/{doubt.id}/decide",
        data={"csrf_token": admin.csrf, "delivered": "true", "period": "2025-01", "note": "PI has it"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = admin.get("/statements?period=2025-01").text
    assert f'id="delivered-{doubt.id}"' not in page and "PI has it" in page
