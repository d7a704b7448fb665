"""The Journal page: admins and reviewers export and download, viewers see the list;
refusals are shown as the service words them."""

from __future__ import annotations

import hashlib


def test_export_download_and_refusals(clients):
    admin, reviewer, viewer = clients["admin"], clients["reviewer"], clients["viewer"]
    page = reviewer.get("/journal?period=2025-01")
    assert page.status_code == 200 and 'id="journal-export"' in page.text
    assert ">gl</option>" in page.text and ">postings</option>" in page.text

    # the test sources have no recovery fund/org: a gl journal is refused, naming one
    r = admin.post(
        "/journal/export",
        data={"period": "2025-01", "format": "gl", "draft": "true", "csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 422 and "has no recovery fund/org" in r.text and "source aws" in r.text

    r = reviewer.post(
        "/journal/export",
        data={"period": "2025-01", "format": "standard", "draft": "true", "csrf_token": reviewer.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/journal?period=2025-01&done=")
    done = reviewer.get(r.headers["location"]).text
    assert 'id="export-done"' in done and "-DRAFT.csv" in done
    export_id = int(r.headers["location"].rsplit("=", 1)[1])
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
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/journal?period=2025-01&done=")

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
