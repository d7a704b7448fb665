"""The period page is the month's checklist: the next step in words for each role, and
only the actions the role may take (an admin closes, a reviewer reviews and exports the
journal, a viewer reads). The states themselves: tests/statements/test_month_checklist.py;
the whole month in a browser: test_month_browser.py."""

from __future__ import annotations

import re


def _step(html: str, key: str) -> str:
    return re.search(rf'<li [^>]*id="step-{key}".*?</li>', html, re.S).group(0)


def test_each_role_gets_its_next_action(clients):
    pages = {role: clients[role].get("/periods/2025-01").text for role in ("admin", "reviewer", "viewer")}
    for html in pages.values():  # the sample month: imported, nothing pending, still open
        assert 'data-step="close"' in html
        assert 'data-state="done"' in _step(html, "import") and 'data-state="todo"' in _step(html, "close")
        assert "Statements are not generated in this version yet" not in html
        assert "Review is done; statements may be generated" not in html
    admin, reviewer, viewer = pages["admin"], pages["reviewer"], pages["viewer"]
    assert "close the period" in admin and re.search(r'id="close-period"(?! disabled)', admin)
    for html in (reviewer, viewer):
        assert "an admin closes the period" in html and 'id="close-period"' not in html
        assert 'id="step-generate"' not in html and 'id="finalize-period"' not in html
    assert re.search(r'id="step-export" disabled', reviewer) and 'id="step-export"' not in viewer
    assert 'id="step-import-link"' in admin and 'id="step-import-link"' not in reviewer
