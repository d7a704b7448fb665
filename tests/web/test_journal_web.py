"""The Journal page: admins and reviewers export (a job followed on the page) and
download, viewers see the list; refusals are shown as the service words them."""

from __future__ import annotations

import hashlib
import re
import time


def _finished(client, location: str, timeout: float = 60) -> str:
    """The export job's partial once it has ended (its page is ``location``)."""
    job = re.search(r"job=(\d+)", location).group(1)
    deadline = time.monotonic() + timeout
    html = client.get(location).text
    while 'data-status="running"' in html or 'data-status="queued"' in html:
        assert time.monotonic() < deadline, "the export job did not finish"
        time.sleep(0.2)
        html = client.get(f"/journal/jobs/{job}").text
    return html


def test_export_download_and_refusals(clients):
    admin, reviewer, viewer = clients["admin"], clients["reviewer"], clients["viewer"]
    page = reviewer.get("/journal?period=2025-01")
    assert page.status_code == 200 and 'id="journal-export"' in page.text
    assert ">gl</option>" in page.text and ">postings</option>" in page.text

    # the test sources have no recovery fund/org: a gl journal is refused while it is
    # built, by its job, naming one (and the form is as it was asked)
    r = admin.post(
        "/journal/export",
        data={"period": "2025-01", "format": "gl", "draft": "true", "csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/journal?period=2025-01&job=")
    failed = _finished(admin, r.headers["location"])
    assert (
        'data-status="failed"' in failed and "has no recovery fund/org" in failed and "source aws" in failed
    )
    page = admin.get(r.headers["location"]).text
    assert '<option value="gl" selected>' in page and 'id="journal-draft" checked' in page

    r = reviewer.post(
        "/journal/export",
        data={"period": "2025-01", "format": "standard", "draft": "true", "csrf_token": reviewer.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/journal?period=2025-01&job=")
    done = _finished(reviewer, r.headers["location"])
    assert 'id="export-done"' in done and "-DRAFT.csv" in done
    assert 'id="export-done"' in reviewer.get(r.headers["location"]).text  # the page says it too
    export_id = int(re.search(r"/journal/exports/(\d+)/download", done).group(1))
    got = reviewer.get(f"/journal/exports/{export_id}/download")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.content.startswith(b"DRAFT - not for posting: period 2025-01 is ")
    assert got.headers["x-content-sha256"] == hashlib.sha256(got.content).hexdigest()
    assert "attachment;" in got.headers["content-disposition"]

    r = admin.post(
        "/journal/export",
        data={"period": "2025-01", "format": "summary", "draft": "true"},
        headers={"X-CSRF-Token": admin.csrf, "HX-Request": "true"},
    )
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/journal?period=2025-01&job=")
    _finished(admin, r.headers["HX-Redirect"])

    listing = viewer.get("/journal?period=2025-01").text
    assert 'id="journal-export"' not in listing and "-DRAFT.csv" in listing
    assert f"/journal/exports/{export_id}/download" not in listing
    assert viewer.get(f"/journal/exports/{export_id}/download").status_code == 403
    assert (
        viewer.post(
            "/journal/export", data={"period": "2025-01", "format": "summary", "csrf_token": viewer.csrf}
        ).status_code
        == 403
    )
    assert admin.get("/journal/exports/99999/download").status_code == 404


def test_a_second_posting_needs_again_and_control_totals_are_offered(tmp_path):
    """As the CLI: exporting a posted period's gl again is refused, naming the earlier
    export, until "again" is ticked (recorded, shown as a badge); each export offers its
    control totals (file name, SHA-256, lines, debit and credit totals)."""
    from fastapi.testclient import TestClient

    from openchargeback.services import review
    from openchargeback.services.context import build_context
    from openchargeback.services.periods import change_status
    from openchargeback.web.app import create_app

    from .conftest import SOURCES, csrf_of, login, seed, web_settings

    recovery = {"gl_fund_org": "RC-CLOUD-0001", "gl_account": "4410"}
    settings = web_settings(
        tmp_path,
        sources=[{**s, **recovery} for s in SOURCES],
        journal={"debit_account": "7400"},
    )
    seed(settings)
    ctx = build_context(settings, actor="seed")
    review.approve(ctx, "2025-01", review.Selection(status="pending"), note="tests")
    change_status(ctx, "2025-01", "close", "tests", force=True)
    ctx.engine.dispose()
    app = create_app(settings)
    try:
        admin = TestClient(app, base_url="https://testserver")
        assert login(admin, "admin").status_code == 303
        token = csrf_of(admin)

        def export(**more):
            data = {"period": "2025-01", "format": "gl", "csrf_token": token, **more}
            return admin.post("/journal/export", data=data, follow_redirects=False)

        first = export()
        assert first.status_code == 303
        done = _finished(admin, first.headers["location"])
        first_id = int(re.search(r"/journal/exports/(\d+)/download", done).group(1))
        refused = export()  # said at once, before a job is queued
        assert refused.status_code == 409
        assert "was exported for posting before: export 1 (journal-2025-01-gl-001.csv" in refused.text
        again = export(again="true")
        assert again.status_code == 303
        _finished(admin, again.headers["location"])
        page = admin.get(again.headers["location"]).text
        assert 'id="journal-again"' in page and ">again</span>" in page
        control = admin.get(f"/journal/exports/{first_id}/control")
        assert control.status_code == 200 and "attachment;" in control.headers["content-disposition"]
        download = admin.get(f"/journal/exports/{first_id}/download")
        digest = hashlib.sha256(download.content).hexdigest()
        lines = control.text.splitlines()
        assert lines[0] == "file_name,sha256,lines,currency,debit_total,credit_total,charged_total"
        name, sha, count, currency, debit, credit, _ = lines[1].split(",")
        assert (name, sha, currency, debit == credit) == ("journal-2025-01-gl-001.csv", digest, "USD", True)
        assert int(count) == len(download.text.splitlines()) - 1  # the header is not a line
    finally:
        app.state.runner.shutdown()
        app.state.ctx.engine.dispose()
