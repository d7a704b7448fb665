"""A person's path through the UI in a real browser (Playwright driving Debian's
/usr/bin/chromium): log in, import the sample files by drag-and-drop and watch the
jobs finish, filter the charges, open a charge, switch to dark mode, see a viewer
refused an admin page, log out. Screenshots of the main pages go to a temporary folder,
or to docs/images/ with `make screenshots`."""

from __future__ import annotations

import pytest

from .conftest import CHROMIUM, INPUTS, PASSWORD, live_server, seed, web_settings

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = web_settings(tmp_path_factory.mktemp("browser"), dev_mode=True)
    seed(settings, files=())
    with live_server(settings) as (base, _app):
        yield base


def _login(page, base, user):
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_a_persons_path(server, browser, shots):
    base = server
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/login")
    shots(page, "login")
    _login(page, base, "admin")

    # drag and drop every sample file on the Imports page
    page.goto(f"{base}/imports")
    files = sorted(INPUTS.glob("*.csv"))
    payload = [(f.name, f.read_text()) for f in files]
    data_transfer = page.evaluate_handle(
        """(files) => { const dt = new DataTransfer();
           for (const [name, text] of files) dt.items.add(new File([text], name, {type: 'text/csv'}));
           return dt; }""",
        payload,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": data_transfer})
    rows = page.locator("#upload-table tbody tr")
    assert rows.count() == len(files)
    # source and period come from the file names (it_storage_ before storage_)
    page.wait_for_function("() => [...document.querySelectorAll('.period-input')].every(i => i.value)")
    sources = page.eval_on_selector_all(".source-select", "els => els.map(e => e.value)")
    assert sources == [f.name.rsplit("_", 1)[0] for f in files]
    shots(page, "imports-dropped")
    page.click("#start-import")
    page.wait_for_function(
        f"() => document.querySelectorAll('#jobs .job[data-status=done]').length === {len(files)}",
        timeout=60_000,
    )
    assert "Import #" in page.inner_text("#jobs")
    shots(page, "imports")

    # the dashboard of the newest period
    page.goto(f"{base}/")
    assert page.inner_text("#kpi-billed").startswith("$")
    shots(page, "dashboard")

    # filter the charges, open one
    page.goto(f"{base}/charges?period=2025-01")
    page.fill("input[name=project]", "genomics-sequencing")
    page.click("#apply-filters")
    page.wait_for_url("**project=genomics-sequencing**")
    projects = page.eval_on_selector_all(
        "#charges-table tbody tr td:nth-child(7)", "els => els.map(e => e.innerText.trim())"
    )
    assert projects and set(projects) == {"genomics-sequencing"}
    page.goto(f"{base}/charges?period=2025-01")
    shots(page, "charges")
    page.locator(".charge-link").nth(2).click()
    page.wait_for_selector("#cost-chain")
    assert "BilledCost" in page.inner_text("#cost-chain")
    shots(page, "charge")

    page.goto(f"{base}/periods/2025-01")
    shots(page, "period")
    page.goto(f"{base}/projects")
    shots(page, "projects")
    page.goto(f"{base}/statements?period=2025-01")
    assert "Statements" in page.inner_text("h1")
    shots(page, "statements")
    page.goto(f"{base}/settings")
    assert "Settings" in page.inner_text("h1")
    shots(page, "settings")

    # dark mode, remembered across pages
    page.goto(f"{base}/")
    page.click("#theme-toggle")
    assert page.get_attribute("html", "data-theme") == "dark"
    page.reload()
    assert page.get_attribute("html", "data-theme") == "dark"
    shots(page, "dashboard-dark")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(400)  # the sidebar slides away
    shots(page, "dashboard-phone-dark")
    page.click("#menu-button")
    page.wait_for_timeout(300)
    shots(page, "menu-phone-dark", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 860})

    # log out
    page.click(".user-menu summary")
    page.click("#logout")
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/login")
    assert not errors, errors
    ctx.close()


def test_viewer_is_refused_an_admin_action(server, browser, shots):
    base = server
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _login(page, base, "viewer")
    assert "Users" not in page.inner_text("nav")
    response = page.goto(f"{base}/users")
    assert response.status == 403
    assert "has role viewer" in page.inner_text("main")
    page.goto(f"{base}/imports")
    assert page.locator("#dropzone").count() == 0
    shots(page, "refused")
    ctx.close()
