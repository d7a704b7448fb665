"""Statements and their emails: data in, HTML / PDF / CSV / text out.

Templates are package resources (``openchargeback.rendering/templates``). A configured
``template_dir`` is searched first, so a site can replace any template; a replacement
can still extend the packaged one as ``default:statement.html``. Nothing is looked up
in the working directory.

The documented template variables (docs/admin-guide/statements.md) are exactly what
:func:`statement_context` and :func:`email_context` build; a test holds the two
together. The same HTML is printed to PDF with WeasyPrint and shown as the web preview.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    select_autoescape,
)

from openchargeback.domain.statements import DETAIL_CSV_HEADER
from openchargeback.rendering import amounts, csv_safe
from openchargeback.rendering.fetching import url_fetcher

Day = date  # the class, which Formats.date (a template filter) hides in the class body

TEMPLATES = ("statement.html", "statement.css", "email.html", "email.txt")
PAPER = {"letter": "Letter", "a4": "A4"}
_DAY_FIRST = ("%d %B %Y", "%d %b %Y", "%e %b %Y", "%e %B %Y")  # formats "1–31 Jan 2025" suits


@dataclass(frozen=True)
class Branding:
    organisation: str = "Research Computing"
    logo: str | None = None  # a file path
    contact: str = ""
    currency_symbol: str | None = None  # the sign of ``currency``
    currency: str = "USD"  # the site's currency (settings.currency)
    locale: str = amounts.DEFAULT_LOCALE
    date_format: str = "%d %b %Y"
    paper: str = "letter"
    timezone: str = "UTC"


class Formats:
    """How amounts, quantities and dates are written (the template filters)."""

    def __init__(self, branding: Branding):
        self.b = branding
        self.zone = ZoneInfo(branding.timezone)

    def number(self, value: object, places: int) -> str:
        return amounts.number(Decimal(str(value)), places, self.b.locale)

    def money(self, value: object, currency: str) -> str:
        """At the currency's minor unit, with the configured symbol for the site's currency
        (another currency of a multi-currency period: the locale's sign for it, never the
        site's); without a configured symbol, the number alone."""
        if value is None:
            return ""
        symbol: str | bool = False
        if self.b.currency_symbol:
            same = (currency or "").upper() == self.b.currency.upper()
            symbol = self.b.currency_symbol if same else True
        return amounts.money(Decimal(str(value)), currency, self.b.locale, symbol=symbol)

    def quantity(self, value: object) -> str:
        """At most two decimals, trailing zeros dropped: 12,400 or 3.2."""
        if value is None:
            return ""
        return amounts.number(Decimal(str(value)), 2, self.b.locale, trim=True)

    def date(self, value: str | Day | None) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            value = (
                datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
            )
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        return value.strftime(self.b.date_format).lstrip("0")

    def end_date(self, value: str | datetime | None) -> str:
        """The last day covered by an exclusive end time."""
        if value is None:
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return self.date((value - timedelta(microseconds=1)).astimezone(self.zone))

    def daterange(self, start: str | Day | None, end: str | Day | None) -> str:
        """Start and exclusive end as days: "1–31 January 2025", "28 Jan – 3 Feb 2025"."""
        if start is None or end is None:
            return ""
        start_at = datetime.fromisoformat(start) if isinstance(start, str) else start
        end_at = datetime.fromisoformat(end) if isinstance(end, str) else end
        a = start_at.astimezone(self.zone).date() if isinstance(start_at, datetime) else start_at
        b = (
            (end_at - timedelta(microseconds=1)).astimezone(self.zone).date()
            if isinstance(end_at, datetime)
            else end_at
        )
        full = self.b.date_format
        if a == b:
            return self.date(a)
        if (a.year, a.month) == (b.year, b.month) and full in _DAY_FIRST:
            return f"{a.day}–{self.date(b)}"
        return f"{self.date(a)} – {self.date(b)}"

    def percent(self, value: object) -> str:
        if value is None:
            return ""
        return f"{amounts.number(Decimal(str(value)), 1, self.b.locale, trim=True)} %"


def _logo_uri(path: str | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    mime = mimetypes.guess_type(p.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode()}"


class StatementRenderer:
    """Renders statements and email bodies with the packaged or overriding templates."""

    def __init__(self, branding: Branding, template_dir: str | None = None):
        self.branding = branding
        self.template_dir = template_dir
        self.formats = Formats(branding)
        default = PackageLoader("openchargeback.rendering", "templates")
        loaders: list[BaseLoader] = []
        if template_dir:
            if not Path(template_dir).is_dir():
                raise FileNotFoundError(2, "statement template directory not found", template_dir)
            loaders.append(FileSystemLoader(template_dir))
        loaders += [PrefixLoader({"default": default}, delimiter=":"), default]
        self._loader = ChoiceLoader(loaders)
        self.env = Environment(
            loader=self._loader,
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        f = self.formats
        self.env.filters.update(
            money=f.money,
            quantity=f.quantity,
            date=f.date,
            end_date=f.end_date,
            percent=f.percent,
            daterange=f.daterange,
            nonzero=_nonzero,
        )
        self._logo = _logo_uri(branding.logo)
        self.template_hash = self._hash()

    def _hash(self) -> str:
        h = hashlib.sha256()
        for name in TEMPLATES:
            source, _, _ = self._loader.get_source(self.env, name)
            h.update(name.encode() + b"\0" + source.encode() + b"\0")
        h.update(repr(sorted(vars(self.branding).items())).encode())
        h.update((self._logo or "").encode())
        return h.hexdigest()

    def branding_context(self) -> dict:
        b = self.branding
        return {
            "organisation": b.organisation,
            "logo": self._logo,
            "contact": b.contact,
            "contact_lines": [x for x in b.contact.splitlines() if x.strip()],
            "paper": PAPER.get(b.paper, b.paper),
        }

    # -- statements -----------------------------------------------------------------------
    def statement_html(self, context: dict) -> str:
        return self.env.get_template("statement.html").render(**context)

    def statement_pdf(self, context: dict) -> bytes:
        # The lean default stylesheet suits the packaged template; overrides get the full one.
        return html_to_pdf(self.statement_html(context), lean=self.template_dir is None)

    # -- email ---------------------------------------------------------------------------
    def email_bodies(self, context: dict) -> tuple[str, str]:
        """(HTML, plain text) of a PI's message."""
        return (
            self.env.get_template("email.html").render(**context),
            self.env.get_template("email.txt").render(**context),
        )


def statement_context(statement: dict, branding: dict) -> dict:
    """The variables a statement template receives (documented in docs/admin-guide/statements.md)."""
    return {"statement": statement, "branding": branding}


def email_context(
    pi_email: str | None,
    period: dict,
    statements: list[dict],
    totals: list[dict],
    branding: dict,
    *,
    pi_name: str | None = None,
) -> dict:
    """The variables the email templates receive (documented in docs/admin-guide/statements.md)."""
    return {
        "pi_email": pi_email,
        "pi_name": pi_name,
        "period": period,
        "statements": statements,
        "totals": totals,
        "branding": branding,
    }


_FONTS = None
_LEAN = None
_CSS_CACHE: dict[str, object] = {}
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_INDENT = re.compile(r"\n[ \t]+")


def html_to_pdf(html: str, *, lean: bool = False) -> bytes:
    """Print HTML to PDF with WeasyPrint (imported on first use: it loads Pango).

    The document's ``<style>`` blocks are parsed once per distinct text and passed to
    WeasyPrint as prepared stylesheets, and indentation is dropped. ``lean``: use the
    small default stylesheet of the packaged statement template instead of WeasyPrint's
    full HTML5 one (a fifth faster; only for markup that uses the elements it covers)."""
    global _FONTS, _LEAN
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    if _FONTS is None:
        _FONTS = FontConfiguration()
    sheets = []
    for text in _STYLE.findall(html):
        css = _CSS_CACHE.get(text)
        if css is None:
            if len(_CSS_CACHE) > 16:
                _CSS_CACHE.clear()
            css = _CSS_CACHE[text] = CSS(string=text, font_config=_FONTS, url_fetcher=url_fetcher())
        sheets.append(css)
    body = _INDENT.sub("\n", _STYLE.sub("", html))
    cls = HTML
    if lean and hasattr(HTML, "_ua_stylesheets"):  # a WeasyPrint internal; else the full sheet
        if _LEAN is None:
            ua = CSS(
                string=(files("openchargeback.rendering") / "templates" / "weasyprint-ua.css").read_text(
                    encoding="utf-8"
                ),
                font_config=_FONTS,
            )

            class _LeanHTML(HTML):
                def _ua_stylesheets(self, forms: bool = False) -> list[CSS]:
                    return [ua]

            _LEAN = _LeanHTML
        cls = _LEAN
    page = cls(string=body, base_url=None, url_fetcher=url_fetcher())  # data: and own assets only
    return page.write_pdf(stylesheets=sheets, font_config=_FONTS)


def detail_csv(number: str, rows: list[list]) -> bytes:
    """The full detail of a statement as CSV (formula-safe), UTF-8 with a BOM for spreadsheets."""
    text = csv_safe.lines([["statement", *DETAIL_CSV_HEADER], *([number, *r] for r in rows)])
    return ("\ufeff" + text).encode("utf-8")


def _nonzero(value: object) -> bool:
    return value is not None and Decimal(str(value)) != 0
