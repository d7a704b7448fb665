"""In a real browser (Playwright driving Debian's /usr/bin/chromium): an admin adds a
fund through the registry form, splits a project 60/40 between two funds and sees
both funds, with their shares, on the project page. Saves project-split.png (to
docs/images/ only with `make screenshots`)."""

from __future__ import annotations

import pytest

from .conftest import CHROMIUM, PASSWORD, live_server, seed, web_settings

PROJECT = "genomics-sequencing"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from openchargeback.services.context import build_context
    from openchargeback.services.registry import records as registry

    tmp = tmp_path_factory.mktemp("registry-browser")
    settings = web_settings(tmp, dev_mode=True)
    seed(settings, files=("aws_2025-01.csv", "storage_2025-01.csv"))
    ctx = build_context(settings, actor="seed")
    registry.add_record(
        ctx, "pis", {"email": "zorp.blinkman@example.edu", "name": "Zorp Blinkman", "department": "Biology"}
    )
    registry.add_record(
        ctx,
        "funds",
        {
            "code": "NSF-123",
            "description": "NSF award 123",
            "valid_from": "2024-07-01",
            "valid_to": "2027-06-30",
        },
    )
    registry.add_record(ctx, "funds", {"code": "BIO-2024-001", "description": "Biology core"})
    registry.add_record(
        ctx,
        "projects",
        {
            "project_id": PROJECT,
            "pi_email": "zorp.blinkman@example.edu",
            "name": "Genome sequencing",
            "start_date": "2024-07-01",
            "end_date": "2027-06-30",
            "default_fund": "BIO-2024-001",
            "budget": "5000",
            "budget_per": "fiscal_year",
        },
    )
    ctx.engine.dispose()
    with live_server(settings) as (base, _app):
        yield base


def test_an_admin_splits_a_project_60_40(server, browser, shots):
    base = server
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # the second fund, through the registry form
    page.click("nav >> text=Registry")
    page.wait_for_url(f"{base}/registry/projects")
    page.click(".tabs >> text=Funds/orgs")
    page.click("#add-record")
    page.fill("#f-code", "DEPT-9")
    page.fill("#f-description", "Department of Biology, discretionary")
    page.click("#save-record")
    page.wait_for_url(f"{base}/registry/funds?saved=DEPT-9")
    assert "DEPT-9" in page.inner_text("#registry-rows")

    # the project page: no split yet; the split form
    page.goto(f"{base}/projects/detail?key={PROJECT}&period=2025-01")
    assert "No split in force" in page.inner_text("#splits-in-force")
    page.click("#set-split")
    page.wait_for_selector("#split-form")
    page.select_option("#split-fund-1", "NSF-123")
    page.fill("#split-percent-1", "60")
    page.select_option("#split-fund-2", "DEPT-9")
    page.fill("#split-percent-2", "40")
    page.fill("#split-first", "2025-01")
    page.fill("#split-reason", "NSF award 123 pays 60 % from January to June")
    page.click("#save-split")
    # refused as the service words it (the fund ends in 2027), with what was typed kept
    assert "fund NSF-123 is valid until 2027-06-30" in page.inner_text("#split-error")
    assert page.input_value("#split-percent-2") == "40"
    page.fill("#split-last", "2025-06")
    page.click("#save-split")
    page.wait_for_url(lambda url: "split=saved" in url)

    # both funds and their shares on the project page
    rows = page.eval_on_selector_all(
        "#splits-in-force tr.split-share",
        "els => els.map(e => [e.dataset.fund, e.querySelector('.share').innerText.trim()])",
    )
    assert rows == [["NSF-123", "60 %"], ["DEPT-9", "40 %"]]
    assert "Split saved" in page.inner_text("#split-notice")
    assert "NSF award 123" in page.inner_text("#splits-in-force")
    page.wait_for_selector("#project-budget .budget-table")  # spend against budget, loaded by htmx
    assert "FY2025" in page.inner_text("#project-budget")
    page.locator("#registry").scroll_into_view_if_needed()
    shots(page, "project-split")
    unexpected = [e for e in errors if "status of 422" not in e]  # the refused split was one
    assert not unexpected, unexpected
    ctx.close()
