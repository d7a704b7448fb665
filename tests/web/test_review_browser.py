"""A reviewer clears a queue of flagged sample charges in a real browser (Playwright
driving Debian's /usr/bin/chromium): approves with the keyboard and with the mouse,
rejects one with a note, corrects the project of another and saves it as a rule,
approves the last one with a bulk action. Then the sample file is imported again with
--replace (through the ingest service) and the reviewer sees every decision kept: the
states, the note and the corrected project. Saves review-queue.png (to docs/images/ only
with `make screenshots`)."""

from __future__ import annotations

import pytest

from .conftest import ARGS, CHROMIUM, INPUTS, PASSWORD, live_server, seed, web_settings

RULES = {
    "max_charge": "1000",
    "flag_patterns": [
        {
            "name": "gpu",
            "field": "resource_name",
            "pattern": "gpu",
            "reason": "GPU instances need a second look",
        }
    ],
}
P = "2025-01"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review-browser")
    settings = web_settings(tmp, dev_mode=True, review=RULES)
    seed(settings, files=("aws_2025-01.csv",))
    with live_server(settings) as served:
        yield served


def _count(page) -> str:
    return page.inner_text("#rq-count").strip()


def _wait_count(page, n: int) -> None:
    page.wait_for_function(f"() => document.getElementById('rq-count').textContent.trim() === '{n}'")


def _row(page, resource: str):
    return page.locator("tr.rq-row", has_text=resource)


def test_a_reviewer_clears_the_queue_and_a_replace_keeps_the_decisions(server, tmp_path, shots):
    from playwright.sync_api import sync_playwright

    from openchargeback.services import review as review
    from openchargeback.services.ingest.loading import ingest

    base, app = server
    ctx = app.state.ctx
    tmp = tmp_path
    queue = review.list_queue(ctx, P, review.Selection())
    resources = [i.resource_id for i in queue.items]
    assert queue.count == 5, resources
    telescope, gpu1, gpu2, brain, genomics = resources

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/login")
        page.fill("#username", "reviewer")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.click("#kpi-pending")  # the dashboard's pending review leads to the queue
        page.wait_for_url(f"{base}/review?period={P}")
        assert _count(page) == "5"
        rows = page.eval_on_selector_all("#rq-rows tr.rq-row .rq-charge", "els => els.map(e => e.innerText)")
        assert [next(r for r in resources if r in text) for text in rows] == resources

        # j selects the first (largest) charge; the picture for the docs
        page.keyboard.press("j")
        assert page.get_attribute("#rq-rows tr.rq-row.current", "id") == f"rq-{queue.items[0].id}"
        page.keyboard.press("?")
        assert page.is_visible("#rq-help")
        page.keyboard.press("?")
        # caret="initial": hiding the caret leaves style="" on every input, which the CSP
        # then refuses when htmx settles a swapped row (a console error)
        shots(page, "review-queue", caret="initial")

        # a approves it in place; the next row becomes the selected one
        page.keyboard.press("a")
        _wait_count(page, 4)
        assert _row(page, telescope).count() == 0
        page.wait_for_selector(f"#rq-{queue.items[1].id}.current")

        # r opens the reject form of the selected row: type the note, Enter
        page.keyboard.press("r")
        note = page.locator(f"#rq-note-{queue.items[1].id}")
        assert note.evaluate("e => e === document.activeElement")
        note.type("duplicate of the December invoice")
        note.press("Enter")
        _wait_count(page, 3)
        assert "rejected" in page.inner_text("#flash")

        # the mouse works too
        _row(page, gpu2).locator(".rq-approve").click()
        _wait_count(page, 2)

        # correct the project of the genomics instance and save it as a rule
        page.keyboard.press("j")
        page.wait_for_selector(f"#rq-{queue.items[4].id}.current")
        page.keyboard.press("c")
        page.fill(f"#rq-project-{queue.items[4].id}", "genomics-archive")
        page.check(f"#rq-{queue.items[4].id} .rq-save-rule")
        page.click(f"#rq-{queue.items[4].id} .rq-correct button[type=submit]")
        page.wait_for_function(
            f"() => (document.querySelector('#rq-{queue.items[4].id} .rq-project') || {{}})"
            ".textContent === 'genomics-archive'"
        )
        assert "saved as a rule" in page.inner_text("#flash")
        assert _count(page) == "2"  # still above the maximum: it stays pending

        # check both remaining rows with x and approve them in one bulk action
        page.keyboard.press("k")
        page.keyboard.press("x")
        page.keyboard.press("j")
        page.keyboard.press("x")
        assert page.locator(".rq-check:checked").count() == 2
        page.click("#rq-approve-checked")
        page.wait_for_selector("text=2 charge(s) approved")
        _wait_count(page, 0)
        assert page.locator("#rq-rows tr.rq-row").count() == 0
        assert "queue is clear" in page.inner_text("#rq-empty")

        # a corrected export arrives (one storage line re-priced): imported with --replace
        text = (INPUTS / "aws_2025-01.csv").read_text()
        old = "85.00,72.25,72.25,72.25,bucket-ml-models"
        assert text.count(old) == 1
        corrected = tmp / "aws_2025-01.csv"
        corrected.write_text(text.replace(old, "85.00,70.00,70.00,70.00,bucket-ml-models"))
        result = ingest(ctx, corrected, "aws", P, replace=True)
        assert result.status == "imported" and result.rows == 25 and result.replaced
        assert result.carried_over == 5

        page.goto(f"{base}/review?period={P}&status=all")
        assert _count(page) == "25"
        expected = {
            telescope: "approved",
            gpu1: "rejected",
            gpu2: "approved",
            brain: "approved",
            genomics: "approved",
        }
        for resource, state in expected.items():
            assert _row(page, resource).locator(".rq-state").inner_text() == state, resource
        assert "duplicate of the December invoice" in _row(page, gpu1).inner_text()
        assert _row(page, genomics).locator(".rq-project").inner_text() == "genomics-archive"
        page.goto(f"{base}/review?period={P}")
        assert _count(page) == "0"

        # the charge's page: its state and its history, carried over to the new row
        page.goto(f"{base}/review?period={P}&status=all")
        _row(page, genomics).locator(".rq-open").click()
        page.wait_for_selector("#review-history")
        assert page.inner_text("#review-state") == "approved"
        history = page.inner_text("#review-history")
        assert "correct" in history and "carry over" in history and "genomics-archive" in history
        assert not errors, errors
        browser.close()
