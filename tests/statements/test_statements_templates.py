"""Templates: every documented variable is in the context and every variable of the
context is documented; snapshots of the statement HTML and the email body (dates and
ids normalised); templates overridable from a directory that can extend the default."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import ROOT
from openchargeback.config import Settings
from openchargeback.rendering.statements import email_context
from openchargeback.services.statements import reading as views
from openchargeback.services.statements.delivery import send_period
from openchargeback.services.statements.generation import generate
from openchargeback.services.statements.render import context_for, renderer_for
from openchargeback.storage.tables import charges

from .conftest import close, load_sample

DOC = ROOT / "docs" / "admin-guide" / "statements.md"
ALIASES = {"statement.fund_blocks[].lines[].": "statement.lines[]."}


def _paths(obj, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{prefix}.{k}" if prefix else k
            out.add(p)
            out |= _paths(v, p)
    elif isinstance(obj, list):
        for x in obj:
            out |= _paths(x, prefix + "[]")
    for alias, target in ALIASES.items():
        out = {target + p[len(alias) :] if p.startswith(alias) else p for p in out}
    return out


def _documented(heading: str) -> set[str]:
    text = DOC.read_text()
    section = text.split(heading, 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


@pytest.fixture
def generated(sqlite_url, make_stmt_ctx):
    """Statements of one PI with a summary, one of them in a second version, sent via the
    outbox (so that email contexts exist)."""
    ctx = make_stmt_ctx(sqlite_url, dev_mode=True, statements={"per_pi_summary": True})
    load_sample(ctx)
    close(ctx)
    pi = "quib.flannister@example.edu"
    generate(ctx, "2025-01", pi=pi)
    from openchargeback.services.periods import change_status

    change_status(ctx, "2025-01", "reopen", "a correction")
    with ctx.engine.begin() as conn:
        conn.execute(
            charges.update()
            .where(charges.c.project_id == "ocean-circulation", charges.c.resource_id == "bucket-ocean-obs")
            .values(review="rejected", review_note="t", reviewed_by="t", reviewed_at=ctx.clock())
        )
    close(ctx)
    result = generate(ctx, "2025-01", pi=pi)
    return ctx, result


def test_documented_statement_variables_are_exactly_the_context(generated):
    ctx, result = generated
    renderer = renderer_for(ctx.settings)
    found: set[str] = set()
    for s in result.statements:
        for v in views.get_statement(ctx, s.number).versions:
            d = views.get_statement(ctx, s.number, v.version)
            found |= _paths(context_for(renderer, d.data, status=d.row.status))
    documented = _documented("### Template variables")
    assert found - documented == set(), "undocumented statement variables"
    assert documented - found == set(), "documented statement variables the context lacks"


def test_documented_email_variables_are_exactly_the_context():
    renderer = renderer_for(Settings())
    context = email_context(
        "pi@example.edu",
        {"name": "2025-01", "start": "2025-01-01T00:00:00+00:00", "end": "2025-02-01T00:00:00+00:00"},
        [
            {
                "number": "ST-202501-0001",
                "version": 1,
                "kind": "project",
                "project_id": "p",
                "currency": "USD",
                "list": "1.00",
                "discount": "0.00",
                "due": "1.00",
                "funds": ["F-1"],
            }
        ],
        [{"currency": "USD", "list": "1.00", "discount": "0.00", "due": "1.00"}],
        renderer.branding_context(),
        pi_name="Ada Lovelace",
    )
    found = _paths(context)
    documented = _documented("### Email template variables")
    assert found == documented
    html, text = renderer.email_bodies(context)  # every variable renders
    assert "ST-202501-0001" in html and "ST-202501-0001" in text


def test_statement_html_and_email_snapshots(generated, snapshot, tmp_path):
    ctx, result = generated
    by_project = {s.project_id: s for s in result.statements}
    climate = by_project["climate-modeling"]
    snapshot("statement-project.html", views.preview_html(ctx, climate.number))
    snapshot("statement-pi-summary.html", views.preview_html(ctx, by_project[None].number))
    ocean = by_project["ocean-circulation"]
    assert ocean.version == 2
    snapshot("statement-superseded.html", views.preview_html(ctx, ocean.number, 1))
    report = send_period(ctx, "2025-01")
    from email import policy
    from email.parser import BytesParser

    msg = BytesParser(policy=policy.default).parsebytes(Path(report.messages[0].outbox_path).read_bytes())
    snapshot("email.txt", msg.get_body(("plain",)).get_content())
    snapshot("email.html", msg.get_body(("html",)).get_content())
    headers = "".join(
        f"{k}: {v}\n" for k, v in msg.items() if k in ("From", "To", "Cc", "Subject", "Date", "Message-ID")
    )
    names = "".join(
        f"attachment: {a.get_filename()} {a.get_content_type()}\n" for a in msg.iter_attachments()
    )
    snapshot("email-headers.txt", headers + names)


def test_templates_can_be_overridden_and_extend_the_default(sqlite_url, make_stmt_ctx, tmp_path):
    d = tmp_path / "templates"
    d.mkdir()
    (d / "statement.html").write_text('{% extends "default:statement.html" %}')
    (d / "email.txt").write_text(
        "Statements for {{ period.name }}: {% for s in statements %}{{ s.number }} {% endfor %}\n"
    )
    ctx = make_stmt_ctx(sqlite_url, dev_mode=True, statements={"template_dir": str(d)})
    default = renderer_for(make_stmt_ctx(sqlite_url).settings)
    custom = renderer_for(ctx.settings)
    assert custom.template_hash != default.template_hash
    load_sample(ctx)
    close(ctx)
    (s,) = generate(ctx, "2025-01", project="exoplanet-survey").statements
    assert s.number in views.preview_html(ctx, s.number)  # the default, through the override
    report = send_period(ctx, "2025-01")
    text = Path(report.messages[0].outbox_path).read_text()
    assert f"Statements for 2025-01: {s.number}" in text
    assert Decimal(views.get_statement(ctx, s.number).data["totals"]["due"]) == s.due_total
