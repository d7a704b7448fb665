"""The portal's pages, downloads and the reviewers' disputes, by role."""

from __future__ import annotations

import re

SCOPED = ("ada", "deb", "bob", "eve")


def _ids(app, pi: str) -> list[int]:
    from openchargeback.services import charges

    return [r.id for r in charges.page(app.state.ctx, charges.Query(pi=pi), limit=100).rows]


def test_a_pi_lands_on_their_portal_and_sees_only_their_own(site):
    app, clients, _ = site
    ada = clients["ada"]
    home = ada.get("/portal")
    assert home.status_code == 200
    assert "ada@example.edu" in home.text and "bob@example.edu" not in home.text and "p-bob" not in home.text
    assert "provisional" in home.text and "2025-02 so far" in home.text
    # the statement sent to Ada, with its files
    number = re.search(r'id="st-([A-Z0-9-]+)-v1"', home.text).group(1)
    assert ada.get(f"/portal/statements/{number}/v1").status_code == 200
    pdf = ada.get(f"/portal/statements/{number}/v1/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # Bob's statement is not there for Ada (404, not 403)
    bob_home = clients["bob"].get("/portal").text
    bob_number = re.search(r'id="st-([A-Z0-9-]+)-v1"', bob_home).group(1)
    assert bob_number != number
    assert ada.get(f"/portal/statements/{bob_number}/v1/pdf").status_code == 404
    assert ada.get(f"/portal/statements/{bob_number}/v1").status_code == 404
    # charges, detail and CSV
    page = ada.get("/portal/charges").text
    assert "r-ada" in page and "r-bob" not in page and "r-none" not in page
    csv_text = ada.get("/portal/charges.csv").text
    assert "ada@example.edu" in csv_text and "bob@example.edu" not in csv_text
    bob_charge = _ids(app, "bob@example.edu")[0]
    assert ada.get(f"/portal/charges/{bob_charge}").status_code == 404
    assert clients["eve"].get("/portal").status_code == 200
    assert "holds no PI" in clients["eve"].get("/portal").text


def test_login_of_a_pi_goes_to_the_portal_and_staff_pages_refuse_them(site):
    from fastapi.testclient import TestClient

    from web.conftest import login

    app, clients, _ = site
    c = TestClient(app, base_url="https://testserver")
    r = login(c, "deb")
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    for path in ("/", "/charges", "/review", "/statements", "/registry", "/pis", "/users", "/disputes"):
        assert clients["ada"].get(path).status_code == 403, path
    for role in ("viewer", "reviewer", "admin"):
        assert clients[role].get("/portal").status_code == 403
    r = c.post("/logout", data={"csrf_token": _csrf(c)}, follow_redirects=False)
    assert r.status_code == 303
    assert c.get("/portal", follow_redirects=False).status_code == 303


def _csrf(client) -> str:
    html = client.get("/account/tokens").text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_dispute_acknowledge_and_the_reviewers_reply(site):
    app, clients, _ = site
    ada, reviewer, viewer = clients["ada"], clients["reviewer"], clients["viewer"]
    charge = _ids(app, "ada@example.edu")[0]
    r = ada.post(
        f"/portal/charges/{charge}/dispute",
        data={"reason": "we never ran r-ada", "csrf_token": ada.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    bob_charge = _ids(app, "bob@example.edu")[0]
    r = ada.post(f"/portal/charges/{bob_charge}/dispute", data={"reason": "x", "csrf_token": ada.csrf})
    assert r.status_code == 404
    queue = reviewer.get("/disputes").text
    assert "we never ran r-ada" in queue and "disputed" in queue
    dispute_id = re.search(r'id="dispute-(\d+)"', queue).group(1)
    assert viewer.get("/disputes").status_code == 403
    r = reviewer.post(
        f"/disputes/{dispute_id}/decide",
        data={"decision": "declined", "reply": "r-ada ran on Jan 5", "csrf_token": reviewer.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    detail = clients["deb"].get(f"/portal/charges/{charge}").text
    assert "r-ada ran on Jan 5" in detail and "declined" in detail
    home = ada.get("/portal").text
    number = re.search(r'id="st-([A-Z0-9-]+)-v1"', home).group(1)
    r = ada.post(
        f"/portal/statements/{number}/v1/acknowledge", data={"csrf_token": ada.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "web:ada, " in ada.get("/portal").text  # who acknowledged, when
    again = ada.post(f"/portal/statements/{number}/v1/acknowledge", data={"csrf_token": ada.csrf})
    assert again.status_code == 409
    from openchargeback.services import audit

    actions = {e.action for e in audit.list_entries(app.state.ctx).entries}
    assert {"dispute.raise", "dispute.declined", "statement.acknowledge"} <= actions


def test_a_pi_grants_a_delegate_for_their_own_pi_only(site):
    from openchargeback.services import users

    app, clients, _ = site
    users.add_user(app.state.ctx, "lab", "correct horse battery", "delegate")
    bob = clients["bob"]
    r = bob.post(
        "/portal/delegates", data={"username": "lab", "pi": "ada@example.edu", "csrf_token": bob.csrf}
    )
    assert r.status_code == 403
    r = bob.post(
        "/portal/delegates",
        data={"username": "lab", "pi": "bob@example.edu", "csrf_token": bob.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "lab for bob@example.edu" in bob.get("/portal").text
    r = bob.post(
        "/portal/delegates/revoke",
        data={"username": "lab", "pi": "bob@example.edu", "csrf_token": bob.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "lab for bob@example.edu" not in bob.get("/portal").text


def test_tokens_page_shows_the_secret_once(site):
    app, clients, _ = site
    c = clients["deb"]
    r = c.post("/account/tokens", data={"name": "script", "scope": "read", "csrf_token": c.csrf})
    assert r.status_code == 201
    secret = re.search(r'id="token-secret">([^<]+)<', r.text).group(1)
    listing = c.get("/account/tokens").text
    assert secret not in listing and secret[:12] in listing
    tid = re.search(r'<tr id="token-(\d+)"><td>script</td>', listing).group(1)
    other = clients["viewer"].post(
        f"/account/tokens/{tid}/revoke", data={"csrf_token": clients["viewer"].csrf}
    )
    assert other.status_code == 404  # not theirs
    r = c.post(f"/account/tokens/{tid}/revoke", data={"csrf_token": c.csrf}, follow_redirects=False)
    assert r.status_code == 303
