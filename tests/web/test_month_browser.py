"""An admin walks a month from the period page alone, in a real browser (Playwright
driving Debian's /usr/bin/chromium), following only the links and buttons the pages
offer: import a file (the import history shows it without a reload), review its flagged
charges, close, generate the statements (the list fills itself when the job ends), send
them to a real SMTP server in its own process, export the journal for posting, finalize.
At each step the checklist names the next one."""

from __future__ import annotations

import re

import pytest

from .conftest import ARGS, CHROMIUM, INPUTS, PASSWORD, SOURCES, live_server, seed, web_settings

P = "2025-01"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    from statements.conftest import FaultServer

    folder = tmp_path_factory.mktemp("smtp")
    server = FaultServer(folder)
    server.plan()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, smtp):
    from journal.conftest import DEBIT_ACCOUNTS, RECOVERY
    from openchargeback.services.context import build_context
    from openchargeback.services.periods import open_period
    from statements.conftest import fault_email, statement_settings

    tmp = tmp_path_factory.mktemp("month-browser")
    sources = [
        {**s, "gl_fund_org": RECOVERY[s["name"]][0], "gl_account": RECOVERY[s["name"]][1]} for s in SOURCES
    ]
    settings = web_settings(
        tmp,
        **statement_settings(tmp, email=fault_email(smtp)),
        sources=sources,
        journal=DEBIT_ACCOUNTS,
        review={"max_charge": "1000"},
    )
    seed(settings, files=())  # the users; the month's file is imported in the browser
    ctx = build_context(settings, actor="admin")
    open_period(ctx, P)
    ctx.engine.dispose()
    with live_server(settings) as served:
        yield served


def _next(page) -> str:
    return page.get_attribute("#next-step", "data-step")


def test_a_month_walked_from_the_period_page(server, smtp, shots):
    from playwright.sync_api import sync_playwright

    base, app = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: d.accept())  # "Approve every charge …?", "Email every PI …?"
        page.goto(f"{base}/login?next=/periods/{P}")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/periods/{P}")

        # import: the checklist leads to the Imports page; the history follows the job
        assert _next(page) == "import" and page.get_attribute("#step-import", "data-state") == "todo"
        page.click("#step-import-link")
        page.set_input_files("#file-input", str(INPUTS / "aws_2025-01.csv"))
        page.wait_for_function("() => document.querySelector('#upload-table select').value === 'aws'")
        page.click("#start-import")
        page.wait_for_selector("#jobs .job[data-status=done] .period-link")
        page.wait_for_selector("#import-history a[href='/imports/1']")  # no reload asked for
        page.click("#jobs .job[data-status=done] .period-link")

        # review: the flagged charges, approved in the queue; back to the checklist
        page.wait_for_url(f"{base}/periods/{P}")
        assert _next(page) == "review" and page.get_attribute("#step-close", "data-state") == "blocked"
        assert page.is_disabled("#close-period") and "wait for review" in page.inner_text("#close-why")
        assert page.is_disabled("#step-generate") and page.is_disabled("#finalize-period")
        page.click("#step-review-link")
        page.click("#rq-approve-all")
        page.wait_for_function("() => document.getElementById('rq-count').textContent.trim() === '0'")
        page.click("#back-to-period")

        # close: then the checklist says what comes next
        page.wait_for_url(f"{base}/periods/{P}")
        assert _next(page) == "close"
        page.click("#close-period")
        page.wait_for_url(re.compile(rf".*/periods/{P}\?msg=closed"))
        assert _next(page) == "statements" and "generate the statements" in page.inner_text("#next-step")

        # statements: generated as a job; the list fills itself; sent from the same page
        page.click("#step-generate")
        page.wait_for_selector("#statements-table tr[data-status=current]")
        assert page.locator("#statements-table tr[data-status=current]").count() > 1
        page.click("#statements-send-all-button")
        page.wait_for_selector("#statement-messages tr[data-status=sent]")
        page.wait_for_function("() => !document.querySelector('#statements-table .muted')")  # all sent
        assert smtp.received() and not page.locator("#statement-messages tr[data-status=failed]").count()
        page.click("#back-to-period")

        # journal: exported for posting from the checklist
        page.wait_for_url(f"{base}/periods/{P}")
        assert _next(page) == "journal"
        assert page.get_attribute("#step-statements", "data-state") == "done"
        page.click("#step-export")
        page.wait_for_selector("#export-done")
        assert "balanced" in page.inner_text("#export-done")
        page.click("#back-to-period")

        # finalize: the month is finished
        page.wait_for_url(f"{base}/periods/{P}")
        assert _next(page) == "finalize"
        page.click("#finalize-period")
        page.wait_for_url(re.compile(rf".*/periods/{P}\?msg=finalized"))
        assert _next(page) == "none" and "the month is finished" in page.inner_text("#next-step")
        states = page.eval_on_selector_all(".steps .step", "els => els.map(e => e.dataset.state)")
        assert states == ["done"] * 6
        shots(page, "period-checklist")
        assert errors == []
        browser.close()
