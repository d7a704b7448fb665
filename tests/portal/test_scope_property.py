"""Property: for random registries, charges and links, a pi or delegate user never sees
a charge, total, registry row, export row or API item of a PI they do not hold, through
any portal page, download or API endpoint."""

from __future__ import annotations

import csv
import io
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_runs = itertools.count()

registries = st.integers(min_value=2, max_value=4).flatmap(
    lambda n: st.tuples(
        st.just(n),
        # charges: (pi index or None, cost in cents, period index)
        st.lists(
            st.tuples(st.one_of(st.none(), st.integers(0, n - 1)), st.integers(1, 99999), st.integers(0, 1)),
            min_size=1,
            max_size=12,
        ),
        st.sets(st.integers(0, n - 1), max_size=n),  # the PIs the user holds
        st.sampled_from(["pi", "delegate"]),
    )
)


def _email(i: int) -> str:
    return f"pi-{chr(97 + i)}@lab{i}.example.edu"


@pytest.mark.slow
@settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=registries)
def test_a_scoped_user_never_sees_another_pis_data(tmp_path_factory, case):
    from fastapi.testclient import TestClient

    from focus_builders import row, write_csv
    from openchargeback.services import periods, portal, review, statements, tokens, users
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest
    from openchargeback.services.registry import records as reg
    from openchargeback.web.app import create_app
    from web.conftest import login, web_settings

    n, charge_specs, held_idx, role = case
    tmp = tmp_path_factory.mktemp(f"scope{next(_runs)}")
    settings_ = web_settings(
        tmp,
        statements={"output_dir": str(tmp / "out")},
        email={"outbox_dir": str(tmp / "outbox"), "from_address": "billing@rc.example.edu"},
    )
    # dev_mode for the seeding only: statements go to the outbox folder, not SMTP
    ctx = build_context(settings_.model_copy(update={"dev_mode": True}), actor="seed")
    for i in range(n):
        reg.add_record(ctx, "pis", {"email": _email(i), "name": f"Name{i}"})
        reg.add_record(ctx, "projects", {"project_id": f"proj-{chr(97 + i)}", "pi_email": _email(i)})
    rows = []
    for k, (pi, cents, p) in enumerate(charge_specs):
        tags = {"pi_email": _email(pi), "project_id": f"proj-{chr(97 + pi)}"} if pi is not None else {}
        rows.append(
            row(("2025-01", "2025-02")[p], cost=f"{cents / 100:.2f}", tags=tags, ResourceId=f"res-{k}")
        )
    for p in ("2025-01", "2025-02"):
        mine = [r for r in rows if r["BillingPeriodStart"].startswith(p)]
        if mine:
            ingest(ctx, write_csv(tmp / f"aws_{p}.csv", mine), "aws")
    # a dispute of every PI's first charge, its reason naming the PI: listed to its PI only
    from openchargeback.services import charges

    first = {r.pi: r.id for r in reversed(charges.page(ctx, charges.Query()).rows) if r.pi}
    for pi_email, charge_id in first.items():
        portal.raise_dispute(ctx, portal.ALL, charge_id, f"dispute of {pi_email}")
    users.add_user(ctx, "u", "correct horse battery", role)
    for i in held_idx:
        (portal.link_pi if role == "pi" else portal.grant)(ctx, "u", _email(i))
    held = {_email(i) for i in held_idx}
    others = {_email(i) for i in range(n)} - held
    secret = tokens.create(ctx, "u", "read").secret
    sent = []  # (number, PI) of every statement sent for 2025-01
    if any(p == 0 and pi is not None for pi, _, p in charge_specs):
        review.approve(ctx, "2025-01", review.Selection(status="pending"))  # no fund: flagged
        periods.change_status(ctx, "2025-01", "close", "tests", force=True)
        statements.generate(ctx, "2025-01")
        statements.send_period(ctx, "2025-01")
        sent = [(s.number, s.pi_email) for s in statements.list_statements(ctx, "2025-01")]
    ctx.engine.dispose()

    app = create_app(settings_)
    try:
        c = TestClient(app, base_url="https://testserver")
        assert login(c, "u").status_code == 303

        def clean(text: str) -> None:
            for email in others:
                assert email not in text
            for i in range(n):
                if _email(i) in others:
                    assert f"proj-{chr(97 + i)}" not in text

        clean(c.get("/portal").text)
        clean(c.get("/portal/charges").text)
        mine = c.get("/portal/disputes").text
        clean(mine)
        assert all(f"dispute of {email}" in mine for email in held if email in first)
        exported = list(csv.DictReader(io.StringIO(c.get("/portal/charges.csv").text)))
        assert {r["pi_email"] for r in exported} <= held
        h = {"Authorization": f"Bearer {secret}"}
        api_items = []
        url = "/api/v1/charges?limit=5"
        while url:
            page = c.get(url, headers=h).json()
            api_items += page["items"]
            url = f"/api/v1/charges?limit=5&after={page['next']}" if page["next"] else None
        expected = [s for s in charge_specs if s[0] is not None and _email(s[0]) in held]
        assert len(api_items) == len(expected) == len(exported)
        assert {i["pi"] for i in api_items} <= held
        for charge_id in range(1, len(charge_specs) + 1):
            api = c.get(f"/api/v1/charges/{charge_id}", headers=h)
            page = c.get(f"/portal/charges/{charge_id}")
            visible = charge_id in {i["id"] for i in api_items}
            assert (api.status_code == 200) == visible and (page.status_code == 200) == visible
            if not visible:
                assert api.status_code == 404 and page.status_code == 404
        for period in ("2025-01", "2025-02"):
            r = c.get(f"/api/v1/reports/totals?period={period}&by=pi", headers=h)
            if r.status_code == 200:
                assert {t["group"] for t in r.json()["items"]} <= held
        for kind, key in (("pis", "email"), ("projects", "pi_email")):
            items = c.get(f"/api/v1/registry/{kind}", headers=h).json()["items"]
            assert {i[key] for i in items} == held
        clean(c.get("/api/v1/statements", headers=h).text)
        clean(c.get("/api/v1/disputes", headers=h).text)
        for number, pi in sent:  # a statement's lines: its PI's, else not found
            for url, hdrs in (
                (f"/api/v1/statements/{number}/1/lines", h),
                (f"/portal/statements/{number}/v1/lines", {}),
            ):
                r = c.get(url, headers=hdrs)
                assert r.status_code == (200 if pi in held else 404), (url, r.status_code)
                clean(r.text)
    finally:
        app.state.runner.shutdown() if app.state.runner else None
        app.state.ctx.engine.dispose()
