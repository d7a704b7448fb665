"""The portal in a real browser: a PI signs in, sees their costs, disputes a charge;
layout rules: no sideways scrolling at 390 px, every amount visible at 1280 px.
Screenshots for docs/user-guide/pi-portal.md (written into docs/images only under
`make screenshots`)."""

from __future__ import annotations

import pytest

from web.conftest import Screenshots, browser, live_server  # noqa: F401

PAGES = ("/portal", "/portal/charges", "/account/tokens")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Screenshots:
    return Screenshots.from_env(tmp_path_factory)


def _login(page, base: str, user: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal")


def _amounts_visible(page) -> list[str]:
    """Texts of amount cells cut off or outside the viewport (should be none)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('td.num, .kpi-value')].filter(el => {
            const r = el.getBoundingClientRect();
            return r.right > window.innerWidth + 1 || el.scrollWidth > el.clientWidth + 1;
        }).map(el => el.textContent.trim())"""
    )


@pytest.mark.slow
def test_portal_layout_and_a_dispute_in_the_browser(tmp_path, browser, shots):  # noqa: F811
    from portal.conftest import build_site

    site = build_site(tmp_path)
    with live_server(site) as (base, _app):
        ctx = browser.new_context(viewport={"width": 1280, "height": 860})
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        _login(page, base, "ada")
        assert "provisional" in page.inner_text("#portal-mtd")
        shots(page, "portal")
        for path in PAGES:
            page.goto(f"{base}{path}")
            assert _amounts_visible(page) == [], path
        page.goto(f"{base}/portal/charges")
        shots(page, "portal-charges")
        page.click("#portal-charges tbody a")
        page.fill("#dispute-reason", "This storage was moved to another project in January.")
        page.click("#dispute-form button[type=submit]")
        page.wait_for_selector(".job .badge")
        assert "open" in page.inner_text("#disputes")
        shots(page, "portal-dispute")
        page.set_viewport_size({"width": 390, "height": 844})
        for path in PAGES:
            page.goto(f"{base}{path}")
            page.wait_for_timeout(300)
            wide = page.evaluate("document.documentElement.scrollWidth")
            culprits = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 391).slice(0, 5)
                .map(e => e.tagName + '.' + e.className)"""
            )
            assert wide <= 390, (path, wide, culprits)
        page.goto(f"{base}/portal")
        shots(page, "portal-phone")
        assert not errors, errors
        ctx.close()
