"""The dashboard's numbers and pictures, settings in plain words with every secret
masked, and the help pages (issue 17). Two periods that are ten months apart: January
and December 2025."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest

from .conftest import ROLES, login, seed, web_settings

FILES = ("aws_2025-01.csv", "hpc_2025-01.csv", "aws_2025-12.csv", "hpc_2025-12.csv", "storage_2025-12.csv")
SECRETS = {
    "email": {"username": "mailer", "password": "smtp-Pa55-shown?"},
    "sso": {
        "oidc": {
            "issuer": "https://idp.example.edu",
            "client_id": "ocb",
            "client_secret": "oidc-S3cret-shown",
        }
    },
    "metrics": {"enabled": True, "token": "metrics-T0ken-shown-123"},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(app, admin client, viewer client) over two periods, with one PI named in the registry."""
    from fastapi.testclient import TestClient

    from openchargeback.services import registry
    from openchargeback.services.context import build_context
    from openchargeback.web.app import create_app

    tmp = tmp_path_factory.mktemp("dashboard")
    settings = web_settings(tmp, **SECRETS)
    seed(settings, FILES)
    ctx = build_context(settings, actor="seed")
    registry.add_record(ctx, "pis", {"email": "zorp.blinkman@example.edu", "name": "Zorp Blinkman"})
    ctx.engine.dispose()
    app = create_app(settings)
    clients = {}
    for role in ROLES:
        c = TestClient(app, base_url="https://testserver")
        assert login(c, role).status_code == 303
        clients[role] = c
    yield app, clients
    app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


def _billed(app, period: str, **where) -> Decimal:
    from openchargeback.services import charges

    q = charges.Query(period=period, **where)
    return charges.page(app.state.ctx, q).totals.billed


def test_trend_shows_the_periods_that_exist_with_display_names(site):
    _, c = site
    page = c["viewer"].get("/?period=2025-12").text
    svg = page[page.index('<svg class="chart"') : page.index("</svg>")]
    assert "last 2 periods" in svg  # not 12 slots with 10 empty
    assert re.findall(r'text-anchor="middle" aria-hidden="true">(\d\d-\d\d)<', svg) == ["25-01", "25-12"]
    legend = re.findall(r'<li><span class="swatch series-\d"></span>([^<]*)</li>', page)
    assert legend == ["Amazon Web Services", "Research Storage"]  # display names, largest first
    assert "HPC Cluster" not in svg  # it billed $0.00: a series of zeros has no bar to show


def test_bars_and_rows_lead_to_the_charges_they_sum(site):
    app, c = site
    page = c["viewer"].get("/?period=2025-12").text
    trend, by_source = page.split("</svg>")[:2]
    bars = dict(re.findall(r'<a href="(/charges\?[^"]+)" aria-label="([^"]+)">', trend))
    link = "/charges?period=2025-12&amp;source=aws"
    assert bars[link].startswith("2025-12 · Amazon Web Services: $")
    shown = Decimal(bars[link].rsplit("$", 1)[1].replace(",", ""))
    assert shown == _billed(app, "2025-12", source="aws").quantize(Decimal("0.01"))
    assert "/charges?period=2025-01&amp;source=aws" in bars  # January's bars too
    assert f'<a href="{link}" aria-label="Amazon Web Services: $' in by_source
    target = c["viewer"].get(html.unescape(link))
    assert target.status_code == 200 and "Amazon" in target.text
    # rows: a source, a PI and a project each open their charges of the period
    assert 'href="/charges?period=2025-12&amp;pi=zorp.blinkman%40example.edu"' in page
    assert re.search(r'href="/charges\?period=2025-12&amp;project=genomics-sequencing"', page)


def test_kpis_say_the_change_against_the_previous_period(site):
    app, c = site
    dec, jan = _billed(app, "2025-12"), _billed(app, "2025-01")
    page = c["viewer"].get("/?period=2025-12").text
    said = re.search(r'id="kpi-change-billed">([^<]*)<', page)[1]
    diff = (dec - jan).quantize(Decimal("0.01"))
    percent = ((dec - jan) * 100 / jan).quantize(Decimal("0.1"))
    sign = "+" if diff > 0 else "−"
    assert said == f"{sign}${abs(diff):,} ({'+' if percent > 0 else ''}{percent}%) vs 2025-01"
    exact = re.search(r'id="kpi-billed" title="\$([\d,.]+)">\$([\d,.]+)<', page)
    assert Decimal(exact[1].replace(",", "")) == dec and exact[2] == f"{dec.quantize(Decimal('0.01')):,}"
    first = c["viewer"].get("/?period=2025-01").text
    assert re.search(r'id="kpi-change-billed">new<', first)


def test_pi_names_come_from_the_registry_and_emails_wrap(site):
    _, c = site
    page = c["viewer"].get("/?period=2025-12").text
    top = page[page.index("<h2>Top PIs</h2>") :]
    assert re.search(
        r'<td class="wraps"><a href="/pis/detail\?[^"]+">Zorp Blinkman</a><br>'
        r'<span class="muted small">zorp.blinkman<wbr>@example.edu</span>',
        top,
    )
    assert 'class="truncate"' not in top.split("</table>")[0]
    listed = c["viewer"].get("/pis?period=2025-12&q=blinkman").text  # the list, found by name too
    assert (
        ">Zorp Blinkman</a><br>" in listed and ">Zorp Blinkman</a>" in c["viewer"].get("/pis?q=zorp+b").text
    )
    detail = c["viewer"].get("/pis/detail?key=zorp.blinkman%40example.edu&period=2025-12").text
    assert "Zorp Blinkman · zorp.blinkman@example.edu" in detail


def test_the_projects_list_shows_the_first_rows_then_all(site, monkeypatch):
    from openchargeback.web.routes import pages

    _, c = site
    full = c["viewer"].get("/projects?period=2025-12").text
    assert "Show all" not in full and "<h2>First" not in full
    n = full.count('href="/projects/detail?')
    assert n >= 2
    monkeypatch.setattr(pages, "SHORT_LIST", 1)  # the biggest first, then a link to the rest
    short = c["viewer"].get("/projects?period=2025-12").text
    assert short.count('href="/projects/detail?') == 1 and "<h2>First 1 Projects" in short
    assert 'href="/projects?period=2025-12&amp;all=1">Show all Projects</a>' in short
    assert c["viewer"].get("/projects?period=2025-12&all=1").text.count('href="/projects/detail?') == n


def test_import_detail_shows_money_to_the_cent_exact_on_hover(site):
    app, c = site
    from openchargeback.services import ingest

    imp = next(i for i in ingest.list_imports(app.state.ctx) if i.filename == "aws_2025-12.csv")
    page = c["viewer"].get(f"/imports/{imp.id}").text
    cells = re.findall(r'<td class="num" title="([^"]+)">([^<]+)</td>', page)
    assert cells, "no control totals"
    for exact, shown in cells:
        assert re.fullmatch(r"\$[\d,]+\.\d\d", shown), shown
        assert Decimal(exact.strip("$").replace(",", "")).quantize(Decimal("0.01")) == Decimal(
            shown.strip("$").replace(",", "")
        )


def test_settings_are_grouped_in_plain_words_and_mask_every_secret(site):
    app, c = site
    page = c["admin"].get("/settings")
    assert page.status_code == 200
    text = page.text
    for secret in (
        "smtp-Pa55-shown?",
        "oidc-S3cret-shown",
        "metrics-T0ken-shown-123",
        app.state.settings.server.secret_key,
    ):
        assert secret not in text
    sections = re.findall(r"<summary><h2>([^<]+)</h2>", text)
    assert sections[:3] == ["Billing data", "Importing files", "Converting other inputs"]
    assert {"Email", "Statements", "Journal (GL) export", "Single sign-on"} <= set(sections)
    # a label, the key and a one-line explanation per setting
    assert re.search(
        r"<dt>Mail server <code class=\"muted small\">email.smtp_host</code></dt>\s*"
        r"<dd><span class=\"setting-value wraps\">localhost</span><br><span class=\"muted small\">The SMTP",
        text,
    )
    assert "Display name (aws)" in text and "Amazon Web Services" in text


def test_settings_page_masks_a_postgresql_password():
    from types import SimpleNamespace

    from openchargeback.config import Settings
    from openchargeback.web.pages import settings as settings_page

    s = Settings.model_validate(
        {"database": {"url": "postgresql+psycopg://ocb:pg-Pw-shown@db/ocb?password=pg-query-pw"}}
    )
    shown = [st for sec in settings_page.page(SimpleNamespace(settings=s)).sections for st in sec.settings]
    url = next(st for st in shown if st.key == "database.url")
    assert (
        url.label == "Database address" and "pg-Pw-shown" not in url.value and "pg-query-pw" not in url.value
    )


@pytest.mark.parametrize(
    "data",
    [{}, {"sources": [{"name": "a"}], "journal": {"sources": {"a": {"debit_account": "1"}}}}, SECRETS],
)
def test_the_page_labels_every_setting_shown(data):
    from types import SimpleNamespace

    from openchargeback.config import Settings
    from openchargeback.web.pages import settings as settings_page

    page = settings_page.page(SimpleNamespace(settings=Settings.model_validate(data)))
    shown = [st for sec in page.sections for st in sec.settings]
    assert shown and all(st.explanation and st.label.split(" (")[0] != st.key for st in shown), [
        st.key for st in shown if not st.explanation
    ]


def test_every_setting_has_a_label_and_an_explanation():
    from openchargeback.config import Settings
    from openchargeback.web.pages.settings import GUIDE, SECTIONS

    def leaves(model, prefix=""):
        for name, f in model.model_fields.items():
            key, inner = prefix + name, _model_of(f.annotation)
            if _is_dict_of_models(f.annotation):  # journal.sources.NAME.debit_account
                yield from leaves(_model_of(f.annotation.__args__[1]), key + ".NAME.")
            elif inner is not None:
                yield from leaves(inner, key + ("[]." if _is_list(f.annotation) else "."))
            else:
                yield key

    keys = [k for k in leaves(Settings) if not k.startswith("tag_mapping.")]
    missing = [k for k in keys if k not in GUIDE]
    assert not missing, f"settings without a label on the settings page: {missing}"
    assert all(label and explanation for label, explanation in GUIDE.values())
    tops = {top for _, _, group in SECTIONS for top in group}
    assert {k.split(".")[0].split("[")[0] for k in keys} <= tops


def _model_of(annotation):
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg) if not _is_dict_of_models(arg) else None
        if found is not None:
            return found
    return None


def _is_list(annotation) -> bool:
    from typing import get_origin

    return get_origin(annotation) is list


def _is_dict_of_models(annotation) -> bool:
    from typing import get_args, get_origin

    return get_origin(annotation) is dict and _model_of(get_args(annotation)[1]) is not None


def test_help_tells_the_month_review_statements_journal_and_tags(site):
    _, c = site
    index = c["viewer"].get("/help").text
    for words in (
        "Import",
        "Review",
        "Close",
        "Generate and send statements",
        "Export the journal",
        "Finalize",
    ):
        assert f"<strong>{words}</strong>" in index
    for slug in ("workflow", "review", "statements", "journal", "tags"):
        assert f'href="/help/{slug}"' in index
        page = c["viewer"].get(f"/help/{slug}")
        assert page.status_code == 200, slug
    tags = c["viewer"].get("/help/tags").text
    for key in ("pi_email", "project_id", "fund_org"):
        assert re.search(
            rf'<td><code>{key}</code><br><span class="small warn-text">required</span></td>', tags
        )
    assert "docs/integrations/TAG-SPECIFICATION.md" in tags
    assert "in doubt" in c["viewer"].get("/help/statements").text
    assert "draft" in c["viewer"].get("/help/journal").text
