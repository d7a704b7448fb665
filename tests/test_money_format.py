"""The one money module (minor digits, rounding, leftovers, machine text) and the one
formatter for people (Babel, the branding's locale) on every surface: web filter,
statements (PDF/email), CLI."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openchargeback.config import Settings
from openchargeback.domain.money import distribute, minor_digits, minor_text, round_currency
from openchargeback.rendering import amounts
from openchargeback.rendering.statements import Branding, Formats
from openchargeback.web import templating

D = Decimal


def test_minor_digits_follow_iso_4217():
    assert [minor_digits(c) for c in ("USD", "eur", "JPY", "KRW", "KWD", "BHD", "CLF", "", None)] == [
        2, 2, 0, 0, 3, 3, 4, 2, 2,
    ]  # fmt: skip
    assert round_currency(D("19088.5"), "JPY") == D("19089")  # half-up
    assert round_currency(D("1.0005"), "KWD") == D("1.001")
    assert minor_text(D("19088.75"), "JPY") == "19089"
    assert minor_text(D("3.1"), "KWD") == "3.100"
    assert minor_text(D("-3"), "USD") == "-3.00" and minor_text(None, "USD") == ""


def test_one_leftover_policy():
    # truncated toward zero, the rest to the largest; ties to the smallest of ``ties``
    assert distribute(D("100"), [D("33.3"), D("33.3"), D("33.4")], 0) == (D("33"), D("33"), D("34"))
    assert distribute(D("0.03"), [D("0.015"), D("0.015")], 2, ["B", "A"]) == (D("0.01"), D("0.02"))
    assert distribute(D("-0.03"), [D("-0.015"), D("-0.015")], 2) == (D("-0.02"), D("-0.01"))
    assert sum(distribute(D("8.00"), [D("10.006"), D("-2.006")], 2)) == D("8.00")


def test_babel_writes_amounts_by_locale_at_the_minor_unit():
    assert amounts.money(D("19088.75"), "JPY") == "¥19,089"
    assert amounts.money(D("1234.5"), "USD") == "$1,234.50"
    assert amounts.money(D("1234.5"), "EUR", "de_DE") == "1.234,50\xa0€"
    assert amounts.money(D("1234.5"), "KWD", symbol=False) == "1,234.500"
    assert amounts.money(D("1234.5"), "USD", "fr_FR", symbol="$") == "1\u202f234,50\xa0$"
    assert amounts.money(D("0.123456"), "USD", exact=True) == "$0.123456"
    assert amounts.amount(D("-1234.567"), "USD") == "-1,234.57 USD"
    assert amounts.number(D("12400.50"), 2, trim=True) == "12,400.5"
    assert amounts.compact(D("1234567"), "USD") == "$1.2M"


def test_every_surface_uses_the_branding_locale(monkeypatch):
    # statements and emails
    pdf = Formats(Branding(currency_symbol="€", currency="EUR", locale="de_DE"))
    assert pdf.money(D("1234.5"), "EUR") == "1.234,50\xa0€"
    assert Formats(Branding(locale="de_DE")).money(D("19088.75"), "JPY") == "19.089"
    # the configured sign is the site currency's: a JPY statement of a USD site shows yen
    usd_site = Formats(Branding(currency_symbol="$", currency="USD"))
    assert (usd_site.money(D("5"), "USD"), usd_site.money(D("19088.75"), "JPY")) == ("$5.00", "¥19,089")
    assert pdf.quantity(D("12400.50")) == "12.400,5" and pdf.percent(D("12.5")) == "12,5 %"
    # the web's filters
    env = templating.make_env("de_DE")
    assert env.from_string("{{ v | money('EUR') }}").render(v=D("-2.5")) == "−2,50\xa0€"
    assert templating.money(D("19088.75"), "JPY") == "¥19,089"
    # the CLI: the configuration's locale
    from openchargeback.cli import common

    monkeypatch.setattr(common, "_locale", "de_DE")
    assert common.amount(D("1234.5"), "USD") == "1.234,50 USD"


def test_an_unknown_locale_is_refused_at_start():
    with pytest.raises(ValueError, match="unknown locale 'xx_YY'"):
        Settings.model_validate({"statements": {"branding": {"locale": "xx_YY"}}})
    assert Settings.model_validate({"statements": {"branding": {"locale": "ja_JP"}}})


def test_a_notice_writes_each_currency_with_its_own_sign():
    from types import SimpleNamespace

    from openchargeback.services.statements.notices import body

    rows = [
        SimpleNamespace(id=1, project_id="p", number="ST-1", version=1, due_total=D("10"), currency="USD"),
        SimpleNamespace(
            id=2, project_id="q", number="ST-2", version=1, due_total=D("19088.75"), currency="JPY"
        ),
    ]
    text = body("pi@x.edu", "2025-01", rows, {1: None, 2: None}, "RC", None, "$", "en_US", "USD")
    assert "$10.00 due" in text and "¥19,089 due" in text and "$19" not in text


@pytest.mark.parametrize("locale", ["en_US", "de_DE", "fr_FR", "ja_JP", "ar_EG", "nl_NL", "en_IN", "de_CH"])
def test_the_fast_writer_writes_what_babel_writes(locale):
    """money/number skip Babel's pattern.apply where a grouped format gives the same text
    (en_IN's 12,34,567 and de_CH keep Babel): same text on many values, signs and places."""
    import random

    rng = random.Random(7)
    for currency, symbol, places in (("USD", True, 2), ("EUR", False, 2), ("JPY", "Y", 0), ("KWD", True, 5)):
        loc, pattern = amounts._pattern(locale, symbol, places, places)
        write = amounts._writer(locale, symbol, places, currency)
        for _ in range(200):
            v = D(rng.choice((1, -1))) * D(rng.random()) * D(10) ** rng.randint(-3, 13)
            v = v.quantize(D(1).scaleb(-places))
            assert write(v) == pattern.apply(v, loc, currency=currency, currency_digits=False), v
