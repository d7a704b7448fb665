"""A page of charges from the API is built without FastAPI's response model (issue 18):
its JSON is still exactly to_json of the service's rows, money as exact text."""

from __future__ import annotations

import json

from openchargeback.domain.jsonable import to_json
from openchargeback.services import charges


def test_a_page_of_charges_is_to_json_of_its_rows(site):
    app, clients, secrets = site
    h = {"Authorization": f"Bearer {secrets[('viewer', 'read')]}"}
    page = charges.page(app.state.ctx, charges.Query(), limit=4, totals=False)
    r = clients["anonymous"].get("/api/v1/charges?limit=4", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    want = {"items": [to_json(row) for row in page.rows], "next": page.next_cursor}
    assert page.next_cursor and r.json() == want
    assert r.content == json.dumps(want, ensure_ascii=False, separators=(",", ":")).encode()
    assert all(isinstance(c["billed_cost"], str) for c in r.json()["items"])
