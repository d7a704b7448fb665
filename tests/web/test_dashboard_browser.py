"""The dashboard in a real browser (issue 17): a click on a bar of the trend opens the
charges it sums; the dashboard, settings and help fit a phone without sideways scrolling."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, live_server, seed, web_settings

FILES = ("aws_2025-01.csv", "aws_2025-12.csv", "storage_2025-12.csv")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = web_settings(tmp_path_factory.mktemp("dash-browser"), email={"password": "smtp-secret-pw"})
    seed(settings, FILES)
    with live_server(settings) as (base, _app):
        yield base


def _login(page, base):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_a_bar_opens_the_charges_it_sums(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    _login(page, server)
    page.goto(f"{server}/?period=2025-12")
    bar = page.locator('svg.chart a[href="/charges?period=2025-12&source=aws"]').first
    said = bar.get_attribute("aria-label")
    assert said.startswith("2025-12 · Amazon Web Services: $")
    assert bar.locator("title").text_content() == said  # what a pointer shows
    bar.click()
    page.wait_for_url("**/charges?period=2025-12&source=aws")
    assert page.locator("select[name=source]").input_value() == "aws"
    page.close()


def test_my_pages_fit_a_phone(browser, server):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    _login(page, server)
    for path in ("/?period=2025-12", "/settings", "/help", "/help/tags", "/imports/3"):
        page.goto(f"{server}{path}")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{path} is {wide} px wide on a 390 px phone"
        assert "smtp-secret-pw" not in page.content()
    page.close()
