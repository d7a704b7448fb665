"""Reading statement PDFs back (pypdf) and checking what they say."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from pypdf import PdfReader


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def usd(value) -> str:
    d = Decimal(value)
    return ("-" if d < 0 else "") + f"${abs(d):,.2f}"


def check_statement_pdf(content: bytes, data: dict) -> str:
    """The PDF shows the statement's number and version, every service line's amount due,
    and the totals in the order list price, discount/subsidy, amount due; the lines add
    up to the total. Returns the text."""
    text = pdf_text(content)
    assert data["number"] in text and f"v{data['version']}" in text
    t = data["totals"]
    assert re.search(
        r"Total\b.*?" + r".*?".join(re.escape(usd(t[k])) for k in ("list", "discount", "due")), text
    ), (data["number"], text)
    for line in data["lines"]:
        assert line["service"] in text
        assert usd(line["due"]) in text
    assert sum(Decimal(x["due"]) for x in data["lines"]) == Decimal(t["due"])
    return text
