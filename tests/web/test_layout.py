"""Every page of the navigation fits the screen and passes axe-core (issue 17).

One server (a closed, billed January with statements and an open December with a review
queue), one browser, one page per theme: each page is loaded at 1280x800 and at 390x844
in the light and the dark theme. At both sizes the document never scrolls sideways; at
1280 the amounts of the charges, project, PI and statements tables lie inside the
viewport; on a phone the review queue's Approve and Reject are on screen; axe-core
(tests/web/axe, installed by `make axe-core`) finds no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ARGS, CHROMIUM, PASSWORD, live_server, seed, web_settings

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
RULES = {"max_charge": "1000"}
# The pages of the staff navigation (an admin sees them all) and a project's and a PI's.
PAGES = [
    "/",
    "/charges",
    "/review",
    "/projects",
    "/pis",
    "/periods",
    "/statements",
    "/imports",
    "/journal",
    "/sources",
    "/registry",
    "/disputes",
    "/users",
    "/settings",
    "/audit",
    "/help",
]
# page -> the table whose amount columns must be on screen at 1280 px
AMOUNTS = {"/charges": "#charges-table", "/projects": "table", "/pis": "table", "/statements": "table"}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from openchargeback.services import review
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest
    from openchargeback.services.periods import change_status
    from openchargeback.services.statements.generation import generate

    from .conftest import INPUTS

    assert AXE.exists(), "run `make axe-core` (npm ci of tests/web/axe)"
    tmp = tmp_path_factory.mktemp("layout")
    settings = web_settings(tmp, dev_mode=True, review=RULES)
    seed(settings, files=("aws_2025-01.csv", "hpc_2025-01.csv", "storage_2025-01.csv"))
    ctx = build_context(settings, actor="seed")
    review.approve(ctx, "2025-01", review.Selection(status="pending"), note="layout")
    change_status(ctx, "2025-01", "close", "layout", force=True)
    generate(ctx, "2025-01")
    for name in ("aws_2025-12.csv", "hpc_2025-12.csv"):
        ingest(ctx, INPUTS / name, name.rsplit("_", 1)[0])
    ctx.engine.dispose()
    with live_server(settings) as (base, _app):
        yield base


@pytest.fixture(scope="module")
def pages(server):
    """theme -> a page logged in as the admin, in that theme."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        out = {}
        for theme in ("light", "dark"):
            # bypass_csp: the page's script-src 'self' would refuse the injected axe-core
            ctx = browser.new_context(viewport=DESK, color_scheme=theme, bypass_csp=True)
            ctx.add_cookies([{"name": "ocb_theme", "value": theme, "url": server}])
            page = ctx.new_page()
            page.goto(f"{server}/login")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server}/")
            out[theme] = page
        yield out
        browser.close()


def _detail_pages(page, base: str) -> list[str]:
    """The first project's and the first PI's page, as the lists link them."""
    found = []
    for listing in ("/projects", "/pis"):
        page.goto(base + listing)
        found.append(page.get_attribute("table tbody a[href*='/detail?']", "href"))
    return found


def _overflow(page) -> int:
    """How far the document is wider than the window (0 when it does not scroll sideways)."""
    return page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")


def _amounts_off_screen(page, table: str) -> list[str]:
    """The header cells of amount columns (th.num) not wholly inside the viewport."""
    return page.evaluate(
        """(sel) => [...document.querySelector(sel).querySelectorAll('thead th.num')]
             .filter(th => th.offsetParent !== null)
             .filter(th => { const r = th.getBoundingClientRect();
                             return r.left < 0 || r.right > window.innerWidth; })
             .map(th => th.textContent.trim())""",
        table,
    )


def _axe(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .filter(v => v.impact === 'serious' || v.impact === 'critical')
             .map(v => `${v.id} (${v.impact}): ` + v.nodes.slice(0, 3).map(n => n.target.join(' ')))"""
    )


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_page_fits_both_screens_and_passes_axe(server, pages, theme):
    page = pages[theme]
    problems = []
    for path in PAGES + _detail_pages(page, server):
        page.set_viewport_size(DESK)
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("html", "data-theme") == theme
        if (wide := _overflow(page)) > 0:
            problems.append(f"{path} at 1280: {wide} px wider than the window")
        table = AMOUNTS.get(path) or (".charges-table" if "/detail?" in path else None)
        if table and (off := _amounts_off_screen(page, table)):
            problems.append(f"{path} at 1280: amount columns off screen: {off}")
        problems += [f"{path} ({theme}): {v}" for v in _axe(page)]
        page.set_viewport_size(PHONE)
        if (wide := _overflow(page)) > 0:
            problems.append(f"{path} at 390: {wide} px wider than the window")
    assert not problems, "\n".join(problems)


def test_review_actions_are_on_a_phone_screen(server, pages, shots):
    page = pages["light"]
    page.set_viewport_size(PHONE)
    page.goto(f"{server}/charges?period=2025-12")
    shots(page, "charges-phone", full_page=False)
    page.goto(f"{server}/review?period=2025-12")
    shots(page, "review-phone", full_page=False)
    first = page.locator("#rq-table .rq-row").first
    for action in (".rq-approve", ".rq-reject > summary"):
        button = first.locator(action)
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (action, box)
        button.focus()
        assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"
