"""The review queue in the web UI: filters, order, key pagination, in-place decisions
(htmx partials and their HX-Trigger), plain-form fallbacks, bulk actions, roles, CSRF,
the charge page's review card, the close gate with "close anyway", the review rules in
Settings, and rejected money left out of every figure on every page."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from .conftest import login, seed, web_settings

RULES = {
    "max_charge": "1000",
    "flag_patterns": [
        {
            "name": "gpu",
            "field": "resource_name",
            "pattern": "gpu",
            "reason": "GPU instances need a second look",
        }
    ],
}
P = "2025-01"
HX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from openchargeback.web.app import create_app

    tmp = tmp_path_factory.mktemp("review-web")
    settings = web_settings(tmp, review=RULES)
    seed(settings, files=("aws_2025-01.csv", "hpc_2025-01.csv", "storage_2025-01.csv", "aws_2025-12.csv"))
    app = create_app(settings)
    yield app
    app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


@pytest.fixture(scope="module")
def as_(app):
    """role -> logged-in TestClient with its CSRF token."""
    from fastapi.testclient import TestClient

    from .conftest import csrf_of

    out = {}
    for role in ("admin", "reviewer", "viewer"):
        c = TestClient(app, base_url="https://testserver")
        assert login(c, role).status_code == 303
        c.csrf = csrf_of(c)
        out[role] = c
    return out


def _post(client, path, data, *, htmx=False, csrf=True, **kw):
    headers = dict(HX) if htmx else {}
    if csrf:
        headers["X-CSRF-Token"] = client.csrf
    return client.post(path, data=data, headers=headers, follow_redirects=False, **kw)


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr id="rq-(\d+)"', html)]


def _ctx(app):
    return app.state.ctx


def _queue(app, **sel):
    from openchargeback.services import review

    return review.list_queue(_ctx(app), P, review.Selection(**sel), limit=500)


# -- the queue --------------------------------------------------------------------------------
def test_queue_shows_pending_charges_largest_first_with_the_stakes(app, as_):
    q = _queue(app)
    assert q.count >= 5
    html = as_["viewer"].get(f"/review?period={P}").text
    assert _ids(html) == [i.id for i in q.items]
    amounts = [abs(i.billed_cost) for i in q.items]
    assert amounts == sorted(amounts, reverse=True)
    assert re.search(r'id="rq-count">(\d+)<', html).group(1) == str(q.count)
    assert f"${q.total.quantize(Decimal('0.01')):,}" in html
    assert "GPU instances need a second look" in html  # reasons in words
    assert 'src="/static/review.js"' in html and "<script>" not in html


@pytest.mark.parametrize(
    "query, sel",
    [
        ("reason=pattern:gpu", {"reason": "pattern:gpu"}),
        ("source=hpc", {"source": "hpc"}),
        ("min=2000", {"min_amount": Decimal(2000)}),
        ("project=genomics-sequencing", {"project_id": "genomics-sequencing"}),
        ("pi=zorp.blinkman@example.edu", {"pi_email": "zorp.blinkman@example.edu"}),
        ("status=all&min=1,500", {"status": "all", "min_amount": Decimal(1500)}),
        ("status=approved&source=aws", {"status": "approved", "source": "aws"}),
    ],
)
def test_filters(app, as_, query, sel):
    html = as_["viewer"].get(f"/review?period={P}&{query}").text
    q = _queue(app, **sel)
    assert _ids(html) == [i.id for i in q.items][:50]
    assert re.search(r'id="rq-count">([\d,]+)<', html).group(1) == f"{q.count:,}"


def test_bad_filters_are_a_422(as_):
    c = as_["viewer"]
    assert c.get(f"/review?period={P}&status=maybe").status_code == 422
    assert c.get(f"/review?period={P}&min=lots").status_code == 422
    assert c.get(f"/review?period={P}&after=nonsense").status_code == 422
    assert c.get(f"/review?period={P}&source=nowhere").status_code == 404


def test_key_pagination_reads_every_row_once(app, as_):
    c = as_["viewer"]
    html = c.get(f"/review?period={P}&status=all&limit=7").text
    seen = _ids(html)
    while m := re.search(r'hx-get="/review/rows\?([^"]+)"', html):
        html = c.get("/review/rows?" + m.group(1).replace("&amp;", "&"), headers=HX).text
        assert "<html" not in html  # a partial
        seen += _ids(html)
    everything = _queue(app, status="all")
    assert seen == [i.id for i in everything.items]
    assert len(seen) == len(set(seen)) == everything.count


def test_empty_and_missing_periods(as_):
    c = as_["viewer"]
    assert "has no charges yet" in c.get("/review?period=2031-01").text
    assert c.get("/review/rows?period=2031-01", headers=HX).text.strip() == ""
    html = c.get("/review?period=2025-12&min=999999").text
    assert "No charge matches" in html or "Nothing waits" in html


# -- decisions --------------------------------------------------------------------------------
def test_htmx_approve_removes_the_row_and_sends_the_stakes(app, as_):
    before = _queue(app)
    first = before.items[0]
    r = _post(
        as_["reviewer"],
        f"/review/{first.id}/approve",
        {"period": P, "back": f"/review?period={P}"},
        htmx=True,
    )
    assert r.status_code == 200 and r.text == ""  # the row leaves the pending list
    stakes = json.loads(r.headers["HX-Trigger"])["rq-stakes"]
    after = _queue(app)
    assert stakes["count"] == after.count == before.count - 1
    assert stakes["total"] == f"${after.total.quantize(Decimal('0.01')):,}"
    assert "approved" in stakes["message"]


def test_htmx_reject_in_the_all_list_returns_the_updated_row(app, as_):
    item = _queue(app).items[0]
    r = _post(
        as_["reviewer"],
        f"/review/{item.id}/reject",
        {"period": P, "note": "duplicate of a December line", "back": f"/review?period={P}&status=all"},
        htmx=True,
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="rq-{item.id}"')
    assert "state-rejected" in r.text and "duplicate of a December line" in r.text
    assert "<html" not in r.text
    # reversible while the period is open
    r = _post(
        as_["reviewer"],
        f"/review/{item.id}/approve",
        {"period": P, "back": f"/review?period={P}&status=rejected"},
        htmx=True,
    )
    assert r.status_code == 200 and r.text == ""


def test_reject_needs_a_note(app, as_):
    item = _queue(app).items[0]
    r = _post(as_["reviewer"], f"/review/{item.id}/reject", {"period": P, "note": "  "}, htmx=True)
    assert r.status_code == 422
    assert r.headers["HX-Retarget"] == "#flash" and "note" in r.text
    r = _post(as_["reviewer"], "/review/bulk", {"period": P, "do": "reject-matching"})
    assert r.status_code == 422


def test_correct_and_save_as_a_rule(app, as_):
    from openchargeback.services import review

    item = next(i for i in _queue(app).items if i.resource_id)
    r = _post(
        as_["reviewer"],
        f"/review/{item.id}/correct",
        {
            "period": P,
            "project": "corrected-project",
            "save_rule": "1",
            "note": "moved to the right project",
            "back": f"/review?period={P}&status=all",
        },
        htmx=True,
    )
    assert r.status_code == 200 and "corrected-project" in r.text
    assert "saved as a rule" in json.loads(r.headers["HX-Trigger"])["rq-stakes"]["message"]
    [h] = [a for a in review.history(_ctx(app), item.id) if a.action == "correct"]
    assert h.after["project_id"] == "corrected-project" and h.note == "moved to the right project"
    assert "needs at least one" in _post(as_["reviewer"], f"/review/{item.id}/correct", {"period": P}).text


def test_plain_forms_redirect_back_and_never_off_site(app, as_):
    item = _queue(app).items[0]
    r = _post(
        as_["reviewer"], f"/review/{item.id}/approve", {"period": P, "back": f"/review?period={P}&source=aws"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/review?period={P}&source=aws&msg=review-approve"
    assert "Charge approved." in as_["reviewer"].get(r.headers["location"]).text
    # a queue URL whose filters no longer resolve: the decision stands all the same
    r = _post(
        as_["reviewer"],
        f"/review/{item.id}/approve",
        {"period": P, "back": f"/review?period={P}&source=gone"},
        htmx=True,
    )
    assert r.status_code == 200 and "rq-stakes" in r.headers["HX-Trigger"]
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil", "/users"):
        r = _post(as_["reviewer"], f"/review/{item.id}/approve", {"period": P, "back": evil})
        assert r.headers["location"] == f"/charges/{item.id}?msg=review-approve", evil
    assert _post(as_["reviewer"], f"/review/{item.id}/explode", {"period": P}).status_code == 404
    assert _post(as_["reviewer"], "/review/999999/approve", {"period": P}).status_code == 404


def test_bulk_checked_and_matching(app, as_):
    q = _queue(app)
    assert q.count >= 2
    two = [q.items[0].id, q.items[1].id]
    r = _post(
        as_["reviewer"],
        "/review/bulk",
        {"period": P, "do": "approve-checked", "ids": [str(i) for i in two]},
        htmx=True,
    )
    assert r.status_code == 200 and 'id="review-queue"' in r.text and "<html" not in r.text
    assert "2 charge(s) approved" in r.text
    assert not set(two) & set(_ids(r.text))
    assert (
        _post(as_["reviewer"], "/review/bulk", {"period": P, "do": "approve-checked"}, htmx=True).status_code
        == 422
    )  # nothing checked
    assert (
        _post(as_["reviewer"], "/review/bulk", {"period": P, "do": "approve-sideways"}, htmx=True).status_code
        == 422
    )
    # every pending hpc charge, by filter; others stay
    hpc = _queue(app, source="hpc")
    rest = _queue(app).count - hpc.count
    r = _post(
        as_["reviewer"],
        "/review/bulk",
        {"period": P, "do": "reject-matching", "source": "hpc", "note": "test partition"},
    )
    assert r.status_code == 303 and "source=hpc" in r.headers["location"]
    assert _queue(app, source="hpc").count == 0
    assert _queue(app, status="rejected", source="hpc").count == hpc.count
    assert _queue(app).count == rest


def test_viewer_sees_but_cannot_act(app, as_):
    html = as_["viewer"].get(f"/review?period={P}&status=all").text
    assert _ids(html)
    for marker in ("rq-approve", 'id="rq-bulk"', "/review/bulk", 'class="rq-check"', "Correct</summary>"):
        assert marker not in html
    assert "reviewers and admins decide" in html
    cid = _ids(html)[0]
    for path, data in (
        (f"/review/{cid}/approve", {"period": P}),
        (f"/review/{cid}/reject", {"period": P, "note": "x"}),
        (f"/review/{cid}/correct", {"period": P, "project": "x"}),
        ("/review/bulk", {"period": P, "do": "approve-matching"}),
    ):
        assert _post(as_["viewer"], path, data).status_code == 403
        assert _post(as_["viewer"], path, data, htmx=True).headers["HX-Retarget"] == "#flash"
    page = as_["viewer"].get(f"/charges/{cid}").text
    assert 'id="review-state"' in page and "charge-approve" not in page


def test_every_review_post_checks_csrf(app, as_):
    cid = _queue(app, status="all").items[0].id
    for path in (
        f"/review/{cid}/approve",
        "/review/bulk",
        "/settings/review-rules",
        "/settings/review-rules/preview",
        "/settings/review-rules/recheck",
    ):
        c = as_["admin"]
        r = c.post(path, data={"period": P, "do": "approve-matching", "text": "{}"}, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text, path
        r = c.post(path, data={"period": P, "csrf_token": "forged"}, follow_redirects=False)
        assert r.status_code == 403, path
    assert as_["reviewer"].get(f"/review/{cid}/approve").status_code == 405


def test_charge_page_shows_state_history_and_actions(app, as_):
    from openchargeback.services import review

    item = _queue(app, status="all", reason="pattern:gpu").items[0]
    r = _post(
        as_["reviewer"],
        f"/review/{item.id}/reject",
        {"period": P, "note": "not ours", "back": f"/charges/{item.id}"},
    )
    assert r.headers["location"] == f"/charges/{item.id}?msg=review-reject"
    html = as_["reviewer"].get(f"/charges/{item.id}").text
    assert re.search(r'id="review-state">rejected<', html)
    assert "not ours" in html and "GPU instances need a second look" in html
    assert 'id="charge-approve"' in html and 'id="charge-reject"' not in html
    history = re.search(r'id="review-history">(.*?)</ol>', html, re.S).group(1)
    assert history.count("<li>") == len(review.history(_ctx(app), item.id))
    assert "reject" in history and "review: " in history
    _post(as_["reviewer"], f"/review/{item.id}/approve", {"period": P})
    assert re.search(r'id="review-state">approved<', as_["viewer"].get(f"/charges/{item.id}").text)


# -- Settings: the rules ----------------------------------------------------------------------
def test_rules_section_preview_save_and_recheck(app, as_):
    from openchargeback.services import audit, review

    a = as_["admin"]
    html = a.get("/settings").text
    assert 'id="review-rules"' in html and "max_charge: &#39;1000" in html
    text = "max_charge: 100\nflag_patterns:\n  - {name: s3, field: service, pattern: S3, reason: storage}\n"
    r = _post(a, "/settings/review-rules/preview", {"text": text, "period": "2025-12"}, htmx=True)
    assert r.status_code == 200 and 'id="rules-preview"' in r.text and "<html" not in r.text
    p = review.preview_rules(
        _ctx(a.app),
        "2025-12",
        {
            "max_charge": "100",
            "flag_patterns": [{"name": "s3", "field": "service", "pattern": "S3", "reason": "storage"}],
        },
    )
    assert f"<strong>{p.flagged}</strong> would be flagged" in r.text
    for code, _, n in p.by_reason:
        assert code.replace("_", " ") in r.text and f">{n}<" in r.text
    assert review.current_rules(_ctx(a.app)).max_charge == Decimal(1000)  # nothing saved
    r = _post(a, "/settings/review-rules/preview", {"text": text, "period": "2025-12"})
    assert r.status_code == 200 and "would be flagged" in r.text and "<html" in r.text
    # an invalid text is shown back with the reason; nothing saved
    r = _post(a, "/settings/review-rules", {"text": "max_charge: [\n"})
    assert r.status_code == 422 and "not valid YAML at line 2" in r.text and "max_charge: [" in r.text
    r = _post(a, "/settings/review-rules", {"text": "max_charges: 5"})
    assert r.status_code == 422 and "unknown key" in r.text
    # save, audited; re-check applies the saved rules to undecided charges of a period
    pending_before = _queue(app).count
    r = _post(a, "/settings/review-rules", {"text": text})
    assert r.status_code == 303 and r.headers["location"].startswith("/settings?msg=rules-saved")
    assert review.current_rules(_ctx(a.app)).max_charge == Decimal(100)
    assert audit.list_entries(_ctx(a.app), action="review.rules").entries
    r = _post(a, "/settings/review-rules/recheck", {"period": P})
    assert r.status_code == 303 and r.headers["location"] == f"/review?period={P}&msg=rechecked"
    assert _queue(app).count > pending_before
    assert _post(as_["reviewer"], "/settings/review-rules", {"text": text}).status_code == 403
    assert as_["reviewer"].get("/settings").status_code == 403
    _post(a, "/settings/review-rules", {"text": json.dumps(RULES)})  # back (YAML reads JSON)


# -- money: rejected charges are never summed ---------------------------------------------------
def _money(v: Decimal) -> str:
    return f"${v.quantize(Decimal('0.01')):,}"


def test_rejected_money_is_left_out_of_every_figure(app, as_):
    from openchargeback.services import insights, reports, review

    ctx = _ctx(app)
    project = "genomics-sequencing"
    pi = "zorp.blinkman@example.edu"
    target = next(
        i
        for i in _queue(app, status="all", project_id=project).items
        if i.billed_cost > 0 and i.review != "rejected"
    )
    t0 = reports.period_totals(ctx, P).totals.billed_cost
    proj0 = insights.entity(ctx, "project", project, P).totals.billed
    _post(as_["reviewer"], f"/review/{target.id}/reject", {"period": P, "note": "not billable"})
    t1 = reports.period_totals(ctx, P).totals.billed_cost
    assert t1 == t0 - target.billed_cost
    # the dashboard, the periods list and page, projects and PIs, the charge browser
    v = as_["viewer"]
    dash = v.get(f"/?period={P}").text
    assert re.search(r'id="kpi-billed"[^>]*>([^<]+)<', dash).group(1) == _money(t1)
    assert _money(t1) in v.get("/periods").text
    assert _money(t1) in v.get(f"/periods/{P}").text
    proj1 = insights.entity(ctx, "project", project, P).totals.billed
    assert proj1 == proj0 - target.billed_cost
    assert _money(proj1) in v.get(f"/projects?period={P}").text
    assert _money(proj1) in v.get(f"/projects/detail?key={project}&period={P}").text
    pi_total = insights.entity(ctx, "pi", pi, P).totals.billed
    assert _money(pi_total) in v.get(f"/pis/detail?key={pi}&period={P}").text
    charges = v.get(f"/charges?period={P}&project={project}").text
    assert re.search(r'id="charges-billed">([^<]+)<', charges).group(1) == _money(proj1)
    rejected = _queue(app, status="rejected", project_id=project).count
    assert f"{rejected} rejected" in re.search(r'id="charges-rejected">([^<]+)<', charges).group(1)
    everything = v.get(f"/charges?period={P}").text
    assert re.search(r'id="charges-billed">([^<]+)<', everything).group(1) == _money(t1)
    # pending review on the dashboard: flagged without a decision, count and amount
    count, total = review.pending(ctx, P)
    kpi = re.search(r'<a [^>]*id="kpi-pending".*?</a>', dash, re.S).group(0)
    assert f">{count:,}<" in kpi and _money(total) in kpi and f"/review?period={P}" in kpi
    # the CSV export says which rows are rejected
    export = v.get(f"/charges/export.csv?period={P}&project={project}").text
    assert export.splitlines()[0].endswith(",review")
    assert any(
        line.startswith(f"{target.id},") and line.endswith(",rejected") for line in export.splitlines()
    )
    _post(as_["reviewer"], f"/review/{target.id}/approve", {"period": P})
    assert reports.period_totals(ctx, P).totals.billed_cost == t0


# -- closing ----------------------------------------------------------------------------------
def test_close_is_refused_while_charges_are_pending_then_forced_with_a_reason(app, as_):
    from openchargeback.services import periods, review

    a = as_["admin"]
    period = "2025-12"
    count, total = review.pending(_ctx(app), period)
    assert count > 0
    page = a.get(f"/periods/{period}").text
    assert 'id="pending-note"' in page and f"/review?period={period}" in page
    r = _post(a, f"/periods/{period}/close", {})
    assert r.status_code == 409
    refused = re.search(r'id="close-refused">(.*?)</div>', r.text, re.S).group(1)
    assert f"{count} charge" in refused and _money(total) in refused
    assert f'href="/review?period={period}"' in refused
    assert 'id="close-anyway"' in r.text
    # a reviewer sees the count but no close form, and cannot close
    assert 'id="close-anyway"' not in as_["reviewer"].get(f"/periods/{period}").text
    assert (
        _post(as_["reviewer"], f"/periods/{period}/close", {"force": "1", "reason": "x"}).status_code == 403
    )
    r = _post(a, f"/periods/{period}/close", {"force": "1", "reason": ""})
    assert r.status_code == 422 and "needs a reason" in r.text
    assert periods.get_period(_ctx(app), period).status == "open"
    r = _post(a, f"/periods/{period}/close", {"force": "1", "reason": "late flags go to next month"})
    assert r.status_code == 303
    info = periods.get_period(_ctx(app), period)
    assert info.status == "closed"
    assert "late flags go to next month" in info.history[-1].reason
    assert f"{count} charge(s) pending review" in info.history[-1].reason
    # a closed period: the queue shows the charges but no buttons; actions are refused
    html = as_["reviewer"].get(f"/review?period={period}").text
    assert "decisions change only while a period is open" in html and "rq-approve" not in html
    cid = _ids(html)[0]
    r = _post(as_["reviewer"], f"/review/{cid}/approve", {"period": period}, htmx=True)
    assert r.status_code == 409 and r.headers["HX-Retarget"] == "#flash"
    _post(a, f"/periods/{period}/reopen", {"reason": "test done"})
