"""The browser tests' screenshots leave the repository as it was: by default they go to a
temporary folder, and the helper refuses a folder inside the repository (docs/images/)
unless $OPENCHARGEBACK_SCREENSHOTS asked for it (`make screenshots`)."""

from __future__ import annotations

import pytest

from .conftest import ROOT, SCREENSHOTS_ENV, Screenshots


class FakePage:
    def __init__(self):
        self.calls: list[dict] = []

    def screenshot(self, **options):
        self.calls.append(options)


def test_by_default_screenshots_go_to_a_temporary_folder(monkeypatch, tmp_path_factory):
    monkeypatch.delenv(SCREENSHOTS_ENV, raising=False)
    shots = Screenshots.from_env(tmp_path_factory)
    assert ROOT not in shots.folder.parents
    page = FakePage()
    path = shots(page, "dashboard")
    assert page.calls == [{"path": str(shots.folder / "dashboard.png"), "full_page": True}]
    assert path.parent == shots.folder


@pytest.mark.parametrize("folder", ["docs/images", ".", "tests/web"])
def test_a_folder_in_the_repository_is_refused_unless_requested(folder):
    with pytest.raises(RuntimeError, match=SCREENSHOTS_ENV):
        Screenshots(ROOT / folder)


def test_docs_images_only_when_the_variable_asks_for_it(monkeypatch, tmp_path_factory):
    monkeypatch.setenv(SCREENSHOTS_ENV, "docs/images")
    shots = Screenshots.from_env(tmp_path_factory)
    assert shots.folder == (ROOT / "docs" / "images").resolve() and shots.requested
    page = FakePage()
    shots(page, "menu-phone-dark", full_page=False)  # the fake page writes nothing
    assert page.calls == [{"path": str(ROOT / "docs" / "images" / "menu-phone-dark.png"), "full_page": False}]
