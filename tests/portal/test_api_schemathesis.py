"""schemathesis against the live /api/v1/openapi.json, with a write token of each role:
every operation, no server error, every response conforming to the document (status,
content type, headers and body schema). Not checked: that every schema-valid request is
accepted; the domain refuses more than the schema says (an unknown source, a cursor that
is not one of ours), with a 422 problem that is itself checked to conform."""

from __future__ import annotations

import pytest

ROLES = ("admin", "reviewer", "viewer", "ada", "deb")


def _conformance_test(op, url: str, auth: dict):
    from hypothesis import HealthCheck, given, settings
    from schemathesis import checks

    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def run(case):
        case.call_and_validate(
            base_url=url,
            headers=auth,
            checks=[
                checks.not_a_server_error,
                checks.status_code_conformance,
                checks.content_type_conformance,
                checks.response_headers_conformance,
                checks.response_schema_conformance,
            ],
        )

    return run


@pytest.mark.slow
def test_every_operation_conforms_for_every_role(tmp_path):
    import schemathesis

    from openchargeback.services import tokens
    from portal.conftest import build_site
    from web.conftest import live_server

    site = build_site(tmp_path)
    with live_server(site) as (base, app):
        for user in ROLES:
            auth = {"Authorization": f"Bearer {tokens.create(app.state.ctx, user, 'write').secret}"}
            schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", headers=auth)
            operations = [r.ok() for r in schema.get_all_operations()]
            assert len(operations) >= 25
            for op in operations:
                try:
                    _conformance_test(op, f"{base}/api/v1", auth)()
                except Exception as exc:
                    raise AssertionError(f"{user}: {op.label}: {exc}") from exc
