"""Every relative link and image of README.md and docs/ points at something that exists:
a file or folder of the repository, and for a link into a Markdown page with a
``#fragment``, a heading of that page (GitHub's anchor rules)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# [text](target) and ![alt](target), and <img src="target">; code spans and fenced
# blocks are removed first so that examples are not taken for links.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMG = re.compile(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", re.I)
REF = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _targets(text: str) -> list[str]:
    text = CODE.sub("", FENCE.sub("", text))
    return LINK.findall(text) + IMG.findall(text) + REF.findall(text)


def _anchors(md: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens,
    repeats numbered."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    text = FENCE.sub("", md.read_text())
    for title in HEADING.findall(text):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # [text](link) -> text
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    out |= set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
    return out


def _relative(target: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("//")


CASES = [(page, target) for page in PAGES for target in _targets(page.read_text()) if _relative(target)]


def test_pages_have_links():
    assert len(CASES) > 50


@pytest.mark.parametrize("page,target", CASES, ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in CASES])
def test_relative_link_resolves(page: Path, target: str):
    path, _, fragment = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    where = page.relative_to(ROOT)
    assert dest.exists(), f"{where}: broken link {target}"
    assert ROOT in dest.parents or dest == ROOT, f"{where}: {target} leaves the repository"
    if fragment and dest.suffix == ".md":
        assert fragment in _anchors(dest), f"{where}: {target}: no heading #{fragment}"
