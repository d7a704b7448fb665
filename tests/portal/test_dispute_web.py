"""The web side of disputes: a PI's dispute shows in the reviewer's queue under the
"disputed" filter with the PI's note; the reviewer's decision and reply come back to the
PI's charge page with what changed; a PI disputes a line of a sent statement."""

from __future__ import annotations

import re


def _ada_charge(app, period):
    from openchargeback.services import charges

    return charges.page(app.state.ctx, charges.Query(period=period, pi="ada@example.edu")).rows[0].id


def test_a_charge_dispute_goes_through_the_queue_and_back(site):
    app, clients, _ = site
    ada, reviewer = clients["ada"], clients["reviewer"]
    cid = _ada_charge(app, "2025-02")
    r = ada.post(
        f"/portal/charges/{cid}/dispute",
        data={"csrf_token": ada.csrf, "reason": "r-ada ran for Bob's lab"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = reviewer.get("/review?period=2025-02&status=disputed").text
    rows = re.findall(r'<tr id="rq-(\d+)"', page)
    assert rows == [str(cid)]
    assert "r-ada ran for Bob&#39;s lab" in page and 'option value="disputed" selected' in page
    assert 'rq-dispute-note">r-ada ran' in page
    assert re.findall(r'<tr id="rq-(\d+)"', reviewer.get("/review?period=2025-01&status=disputed").text) == []

    disputes = reviewer.get("/disputes").text
    dispute_id = re.search(r'id="dispute-(\d+)"', disputes).group(1)
    r = reviewer.post(
        f"/disputes/{dispute_id}/decide",
        data={"csrf_token": reviewer.csrf, "decision": "corrected", "reply": "no fund given"},
        follow_redirects=False,
    )
    assert r.status_code == 422 and "a correction needs" in r.text
    r = reviewer.post(
        f"/disputes/{dispute_id}/decide",
        data={"csrf_token": reviewer.csrf, "decision": "upheld", "reply": "taken off your bill"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    mine = ada.get(f"/portal/charges/{cid}").text
    assert "taken off your bill" in mine and "rejected" in re.search(
        r'dispute-remedy">(.*?)</p>', mine
    ).group(1)
    assert re.findall(r'<tr id="rq-(\d+)"', reviewer.get("/review?period=2025-02&status=disputed").text) == []


def test_a_pi_disputes_a_statement_line(site):
    app, clients, secrets = site
    ada, reviewer = clients["ada"], clients["reviewer"]
    home = ada.get("/portal").text
    link = re.search(r'href="(/portal/statements/[A-Z0-9-]+/v1/lines)"', home).group(1)
    page = ada.get(link).text
    line = re.search(r'action="([^"]+/lines/(\d+)/dispute)"', page)
    assert line, page
    r = ada.post(
        line.group(1), data={"csrf_token": ada.csrf, "reason": "we never used it"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "we never used it" in ada.get(link).text
    # Bob neither sees the lines nor disputes them
    assert clients["bob"].get(link).status_code == 404
    assert (
        clients["bob"]
        .post(line.group(1), data={"csrf_token": clients["bob"].csrf, "reason": "x"}, follow_redirects=False)
        .status_code
        == 404
    )
    assert f"line {line.group(2)}:" in reviewer.get("/disputes").text
    # the API numbers the lines the same way
    number = link.split("/")[3]
    h = {"Authorization": f"Bearer {secrets[('ada', 'read')]}"}
    items = clients["anonymous"].get(f"/api/v1/statements/{number}/1/lines", headers=h).json()["items"]
    assert [i["line"] for i in items] == list(range(1, len(items) + 1))
