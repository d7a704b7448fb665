"""What WeasyPrint may load while it prints a statement: ``data:`` URLs (the logo is
inlined as one) and files inside this package (templates, stylesheets). Nothing else: a
site template that lets text through ``|safe`` must not make the renderer read the
server's files (``file:///etc/...``) or reach the network (``http://``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

PACKAGE = Path(__file__).resolve().parent.parent  # src/openchargeback


def allowed(url: str) -> bool:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "data":
        return True
    if scheme == "file" and parts.netloc in ("", "localhost"):
        return Path(url2pathname(parts.path)).resolve().is_relative_to(PACKAGE)
    return False


@cache
def url_fetcher() -> Any:
    """WeasyPrint's fetcher, refusing every URL that :func:`allowed` does not accept
    (WeasyPrint then leaves the resource out and logs a warning)."""
    from weasyprint.urls import URLFetcher

    class OwnAssetsOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not allowed(url):
                raise ValueError(f"statements may load only data: URLs and their own assets, not {url[:100]}")
            return super().fetch(url, headers)

    return OwnAssetsOnly(allow_redirects=False)
