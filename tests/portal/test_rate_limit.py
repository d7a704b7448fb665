"""The API's per-token rate limit: a token bucket per token; past it, 429 with a
problem document and Retry-After, while another token is unaffected."""

from __future__ import annotations

from openchargeback.web.api.auth import Bucket


def test_bucket_allows_a_burst_then_the_rate():
    b = Bucket(per_minute=60, burst=3)
    assert [b.take(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = b.take(1)
    assert 0 < wait <= 1.0
    assert b.take(2) == 0.0  # another token has its own bucket


def test_api_answers_429_past_the_limit(site):
    app, clients, secrets = site
    api = app.routes[[getattr(r, "path", "") for r in app.routes].index("/api/v1")].app
    saved = api.state.bucket
    api.state.bucket = Bucket(per_minute=1, burst=2)
    try:
        anon = clients["anonymous"]
        h = {"Authorization": f"Bearer {secrets[('viewer', 'read')]}"}
        codes = [anon.get("/api/v1/periods", headers=h).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = anon.get("/api/v1/periods", headers=h)
        assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"]
        other = {"Authorization": f"Bearer {secrets[('admin', 'read')]}"}
        assert anon.get("/api/v1/periods", headers=other).status_code == 200
    finally:
        api.state.bucket = saved
