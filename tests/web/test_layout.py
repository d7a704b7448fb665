"""Every page of the navigation fits the screen and passes axe-core (issue 17).

One server (a closed, billed January with statements and an open December with a review
queue), one browser, one page per theme and user: each page is loaded at 1280x800 and at
390x844 in the light and the dark theme, as the admin (the staff pages) and as a PI (the
portal). At both sizes the document never scrolls sideways; at 1280 the amounts of the
charges, project, PI and statements tables lie inside the viewport; on a phone those
tables (and the portal's, the registry's, audit, users, imports, journal and tokens) do
not scroll sideways either, their amounts and their rows' actions are on screen, and
the review queue's Approve and Reject are reachable; axe-core (tests/web/axe, installed
by `make axe-core`) finds no serious or critical violation."""

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
AMOUNTS = {
    "/charges": "#charges-table",
    "/projects": "table",
    "/pis": "table",
    "/statements": "table",
    "/statements?period=2025-01": "#statements-table",
}
# page -> the table that must fit a phone with its amounts and actions on screen
PHONE_TABLES = {
    "/charges": "#charges-table",
    "/charges?period=2025-12": "#charges-table",
    "/statements?period=2025-01": "#statements-table",
    "/portal": "#portal-statements",
    "/portal/charges": "#portal-charges",
    "/registry/projects": "#registry-table",
    "/registry/pis": "#registry-table",
    "/registry/funds": "#registry-table",
    "/registry/adjustments?period=2025-12": "#adjustments-table",
    "/registry/budgets": ".budget-table",
    "/audit": "#audit-table",
    "/users": "#users-table",
    "/imports": "#imports-table",
    "/journal?period=2025-01": "#journal-exports",
    "/account/tokens": "#tokens-table",
}
# phone tables whose rows have no amount: they must fit and keep their actions on screen
NO_AMOUNT = {"/registry/pis", "/audit", "/account/tokens"}
# The PI portal's pages (a pi user linked to the PI of the first statement).
PORTAL = ["/portal", "/portal/charges", "/portal/disputes", "/account/tokens"]
PI_USER = "pi-layout"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from openchargeback.services import review
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest
    from openchargeback.services.periods import change_status
    from openchargeback.services.statements.delivery import send_period
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
    from openchargeback.services import portal, users
    from openchargeback.services.registry import records
    from openchargeback.services.statements import reading

    pi = next(r.pi_email for r in reading.list_statements(ctx, "2025-01") if r.pi_email)
    records.add_record(ctx, "pis", {"email": pi, "name": pi.split("@")[0].replace(".", " ").title()})
    users.add_user(ctx, PI_USER, PASSWORD, "pi")
    portal.link_pi(ctx, PI_USER, pi)
    send_period(ctx, "2025-01", pi=pi)  # the portal lists the statements sent
    for name in ("aws_2025-12.csv", "hpc_2025-12.csv"):
        ingest(ctx, INPUTS / name, name.rsplit("_", 1)[0])
    # a row in each staff table checked on a phone (added after the imports: no new flags)
    from openchargeback.services import tokens
    from openchargeback.services.journal.export import export_journal
    from openchargeback.services.registry.adjustments import add_adjustment

    project = reading.list_statements(ctx, "2025-01")[0].project_id or "layout-project"
    records.add_record(ctx, "funds", {"code": "RC-LAYOUT", "budget": "1000", "budget_per": "period"})
    records.add_record(
        ctx, "projects", {"project_id": project, "pi_email": pi, "budget": "5000", "budget_per": "period"}
    )
    add_adjustment(ctx, "2025-12", "-25.00", "layout credit", pi_email=pi)
    export_journal(ctx, "2025-01", "standard", write=False)
    for user in ("admin", PI_USER):
        tokens.create(ctx, user, "read", name="layout")
    ctx.engine.dispose()
    with live_server(settings) as (base, _app):
        yield base


def _log_in(browser, server: str, theme: str, user: str):
    # bypass_csp: the page's script-src 'self' would refuse the injected axe-core
    ctx = browser.new_context(viewport=DESK, color_scheme=theme, bypass_csp=True)
    ctx.add_cookies([{"name": "ocb_theme", "value": theme, "url": server}])
    page = ctx.new_page()
    page.goto(f"{server}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/{'portal' if user == PI_USER else ''}")
    return page


@pytest.fixture(scope="module")
def pages(server):
    """(theme, user) -> a page logged in as that user (admin or the PI), in that theme."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield {(t, u): _log_in(browser, server, t, u) for t in ("light", "dark") for u in ("admin", PI_USER)}
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
    """The amount cells (th.num and the first rows' td.num) shown but not wholly inside
    the viewport."""
    return page.evaluate(
        """(sel) => [...document.querySelector(sel).querySelectorAll(
                 'thead th.num, tbody tr:nth-child(-n+5) td.num')]
             .filter(c => c.offsetParent !== null)
             .filter(c => { const r = c.getBoundingClientRect();
                            return r.left < 0 || r.right > window.innerWidth; })
             .map(c => c.textContent.trim())""",
        table,
    )


def _phone_table_problems(page, table: str, amounts: bool = True) -> list[str]:
    """On a phone: the table's scroller does not scroll sideways, the first rows show an
    amount (if ``amounts``), and their links, buttons and fields lie inside the viewport."""
    return page.evaluate(
        """([sel, amounts]) => {
             const t = document.querySelector(sel), out = [];
             if (!t) return [`${sel} missing`];
             const wrap = t.closest('.table-wrap') || t;
             if (wrap.scrollWidth > wrap.clientWidth)
               out.push(`${sel} scrolls sideways by ${wrap.scrollWidth - wrap.clientWidth} px`);
             const rows = [...t.querySelectorAll('tbody tr')].slice(0, 5)
               .filter(tr => amounts ? tr.querySelector('td.num') : !tr.querySelector('td[colspan]'));
             if (!rows.length) out.push(`${sel} has no row${amounts ? ' with an amount' : ''}`);
             for (const tr of rows) {
               if (amounts && ![...tr.querySelectorAll('td.num')].some(td => td.offsetParent !== null))
                 out.push(`${sel}: a row shows no amount`);
               for (const el of tr.querySelectorAll('a, button, summary, input, select')) {
                 const r = el.getBoundingClientRect();
                 if (el.offsetParent !== null && (r.left < 0 || r.right > window.innerWidth))
                   out.push(`${sel}: "${el.textContent.trim()}" off screen at ${Math.round(r.left)} px`);
               }
             }
             return out;
           }""",
        [table, amounts],
    )


def _scrollers(page) -> list[str]:
    """The tables whose scroller (.table-wrap) scrolls sideways, with by how much."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.table-wrap')]
             .filter(w => w.offsetParent !== null && w.scrollWidth > w.clientWidth)
             .map(w => `${(w.querySelector('table') || w).id || 'a table'} scrolls sideways by `
                       + `${w.scrollWidth - w.clientWidth} px`)"""
    )


def _axe(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .filter(v => v.impact === 'serious' || v.impact === 'critical')
             .map(v => `${v.id} (${v.impact}): ` + v.nodes.slice(0, 3).map(n => n.target.join(' ')))"""
    )


def _check(page, base: str, path: str, theme: str) -> list[str]:
    """The page at both sizes: what does not fit, and axe-core's serious findings."""
    problems = []
    page.set_viewport_size(DESK)
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("html", "data-theme") == theme
    if (wide := _overflow(page)) > 0:
        problems.append(f"{path} at 1280: {wide} px wider than the window")
    detail = "/detail?" in path
    table = AMOUNTS.get(path) or (".charges-table" if detail else None)
    if table and (off := _amounts_off_screen(page, table)):
        problems.append(f"{path} at 1280: amount columns off screen: {off}")
    problems += [f"{path} ({theme}): {v}" for v in _axe(page)]
    page.set_viewport_size(PHONE)
    if (wide := _overflow(page)) > 0:
        problems.append(f"{path} at 390: {wide} px wider than the window")
    table = PHONE_TABLES.get(path) or (".charges-table" if detail else None)
    table = "#portal-lines" if path.endswith("/lines") else table
    if table or path.startswith(("/portal", "/account")):  # no table of these pages scrolls sideways
        problems += [f"{path} at 390: {p}" for p in _scrollers(page)]
    if table:
        found = _phone_table_problems(page, table, path not in NO_AMOUNT)
        problems += [f"{path} at 390: {p}" for p in found]
        if not found or not found[0].endswith("missing"):
            problems += [f"{path} at 390: amount off screen: {a}" for a in _amounts_off_screen(page, table)]
    return problems


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_page_fits_both_screens_and_passes_axe(server, pages, theme):
    page = pages[(theme, "admin")]
    problems = []
    for path in [
        *PAGES,
        "/charges?period=2025-12",
        "/statements?period=2025-01",
        *[p for p in PHONE_TABLES if p.startswith(("/registry/", "/journal?", "/account/"))],
        *_detail_pages(page, server),
    ]:
        problems += _check(page, server, path, theme)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_pi_portal_fits_both_screens_and_passes_axe(server, pages, theme):
    page = pages[(theme, PI_USER)]
    page.goto(f"{server}/portal/charges")
    charge = page.get_attribute("#portal-charges tbody a[href^='/portal/charges/']", "href")
    page.goto(f"{server}/portal")
    lines = page.locator("#portal-statements a[href$='/lines']")
    found = [charge, *([lines.first.get_attribute("href")] if lines.count() else [])]
    problems = []
    for path in [*PORTAL, *found]:
        problems += _check(page, server, path, theme)
    assert not problems, "\n".join(problems)


def test_review_actions_are_on_a_phone_screen(server, pages, shots):
    page = pages[("light", "admin")]
    page.set_viewport_size(PHONE)
    page.goto(f"{server}/charges?period=2025-12")
    shots(page, "charges-phone", full_page=False)
    page.goto(f"{server}/statements?period=2025-01")
    shots(page, "statements-phone", full_page=False)
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
