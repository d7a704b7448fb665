"""Exporting journals on both backends: refusals, drafts, only approved charges, the
record and downloads, account codes from tags, --delta, templates, the CLI."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from focus_builders import row, write_csv
from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.services import review as review
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.journal import export as svc
from openchargeback.services.registry.adjustments import add_adjustment
from openchargeback.services.registry.allocation import allocate

from .conftest import (
    DEBIT_ACCOUNTS,
    approve_all,
    close,
    gl_sums,
    journal_sources,
    load_sample,
    read_gl,
    reopen,
)

SMALL = ("aws", "storage")  # enough for most tests: two sources, several funds


def _ready(ctx, sources=SMALL, period="2025-01"):
    load_sample(ctx, period, sources)
    approve_all(ctx, period)
    close(ctx, period)


def _charged(ctx, period="2025-01") -> Decimal:
    return sum((ln.charged for ln in allocate(ctx, period).lines), Decimal(0))


def test_open_period_needs_draft_and_draft_is_marked(db_url, make_journal_ctx, tmp_path):
    ctx = make_journal_ctx(db_url)
    load_sample(ctx, sources=SMALL)
    with pytest.raises(Conflict, match=r"period 2025-01 is open; close it .* or export a draft with --draft"):
        svc.export_journal(ctx, "2025-01", "gl")
    assert svc.list_exports(ctx) == ()
    r = svc.export_journal(ctx, "2025-01", "gl", draft=True)
    assert r.path.endswith("journal-2025-01-gl-001-DRAFT.csv") and r.export.draft
    text = Path(r.path).read_bytes().decode()
    assert text.startswith("DRAFT - not for posting: period 2025-01 is open\r\nFund,Orgn,Account,")
    draft, rows = read_gl(text)
    assert draft and rows and gl_sums(rows)[0] == gl_sums(rows)[1]
    with pytest.raises(NotFound, match="period 2031-01 does not exist"):
        svc.export_journal(ctx, "2031-01", "gl", draft=True)
    with pytest.raises(InvalidInput, match="--delta applies to postings"):
        svc.export_journal(ctx, "2025-01", "summary", draft=True, delta=True)
    with pytest.raises(InvalidInput, match="journal format '../x'"):
        svc.export_journal(ctx, "2025-01", "../x", draft=True)


def test_missing_recovery_refuses_naming_the_source(db_url, make_journal_ctx, tmp_path):
    ctx = make_journal_ctx(db_url, sources=journal_sources(storage=None))
    _ready(ctx)
    with pytest.raises(InvalidInput) as e:
        svc.export_journal(ctx, "2025-01", "gl")
    assert "source storage has no recovery fund/org (gl_fund_org) and no account" in e.value.message
    assert "never" not in e.value.message and "aws" not in e.value.message
    assert svc.list_exports(ctx) == () and not (tmp_path / "journals").exists()
    # the default account is enough for the account, not for the fund/org
    ctx = make_journal_ctx(
        db_url, sources=journal_sources(storage=("RC-STOR-0003", None)), journal={"default_account": "4499"}
    )
    r = svc.export_journal(ctx, "2025-01", "gl")
    _, rows = read_gl(Path(r.path).read_bytes())
    assert {x["Account"] for x in rows if x["Fund"] == "RC" and x["Orgn"] == "STOR-0003"} == {"4499"}


def test_gl_balances_equals_the_allocation_and_is_recorded(db_url, make_journal_ctx, run_cli, tmp_path):
    ctx = make_journal_ctx(db_url)
    _ready(ctx, sources=("aws", "azure", "hpc", "storage", "it_storage"))
    r = svc.export_journal(ctx, "2025-01", "gl")
    content = Path(r.path).read_bytes()
    _, rows = read_gl(content)
    debit, credit = gl_sums(rows)
    assert debit == credit == _charged(ctx) == Decimal("20227.00")
    assert all(d == c for d, c in gl_sums(rows, by="Reference").values())  # per source
    e = r.export
    assert (e.sequence, e.format, e.draft, e.delta, e.period_status, e.rows) == (
        1,
        "gl",
        False,
        False,
        "closed",
        len(rows),
    )
    assert e.sha256 == hashlib.sha256(content).hexdigest() and e.size_bytes == len(content)
    assert [t.as_json() for t in e.totals] == [
        {"currency": "USD", "debit": "20227.00", "credit": "20227.00", "charged": "20227.00"}
    ]
    assert e.created_by == "tester" and e.created_at.isoformat() == "2025-02-03T14:30:00+00:00"
    info, again = svc.export_file(ctx, e.id)
    assert again == content and info == e
    assert svc.get_export(ctx, e.id) == e and svc.list_exports(ctx, "2025-01") == (e,)

    # the CLI: the same export again, its record, and the stored file
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        json.dumps(
            {
                "database": {"url": db_url},
                "sources": journal_sources(),
                "journal": {"output_dir": str(tmp_path / "cli"), **DEBIT_ACCOUNTS},
            }
        )
    )
    # a second posting of the period is refused, naming the first, unless --again (recorded)
    code, out, err = run_cli("export-journal", "-p", "2025-01", "-f", "gl", "-c", cfg, "--json")
    assert code == 1 and "was exported for posting before: export 1 (journal-2025-01-gl-001.csv" in err
    assert "--again" in err and "--delta" in err
    code, out, err = run_cli("export-journal", "-p", "2025-01", "-f", "gl", "-c", cfg, "--json", "--again")
    assert code == 0, err
    data = json.loads(out)
    assert data["file_name"] == "journal-2025-01-gl-002.csv" and data["balanced"] is True
    assert data["again"] is True and e.again is False
    assert any("exported again: export 1" in n for n in data["notes"])
    assert Path(data["path"]).read_bytes() == content  # the same journal, byte for byte
    code, out, _ = run_cli("journals", "list", "-p", "2025-01", "-c", cfg, "--json")
    assert [x["sequence"] for x in json.loads(out)] == [2, 1]
    code, out, _ = run_cli("journals", "show", str(e.id), "-c", cfg)
    assert code == 0 and e.sha256 in out and "balanced" in out
    code, out, _ = run_cli("journals", "download", str(e.id), "-o", tmp_path, "-c", cfg)
    assert code == 0 and (tmp_path / e.file_name).read_bytes() == content
    code, out, _ = run_cli("export-journal", "-p", "2025-01", "-f", "summary", "-o", "-", "-c", cfg)
    assert code == 0 and out.startswith("period,pi_email,project_id,fund_org,currency,")
    code, out, err = run_cli("export-journal", "-p", "2025-01", "-f", "gl", "-c", cfg, "--delta")
    assert code == 0 and "nothing changed since that export" in out
    code, out, err = run_cli("journals", "show", "999", "-c", cfg)
    assert code == 1 and err == "error: journal export 999 does not exist\n"


def test_only_approved_charges(db_url, make_journal_ctx):
    ctx = make_journal_ctx(db_url)
    load_sample(ctx, sources=SMALL)
    approve_all(ctx)
    queue = review.list_queue(ctx, "2025-01", review.Selection(status="approved"))
    rejected = max(queue.items, key=lambda c: c.billed_cost).id
    review.reject(ctx, "2025-01", review.Selection(ids=(rejected,), status="all"), note="not ours")
    close(ctx)
    standard = Path(svc.export_journal(ctx, "2025-01", "standard").path).read_text(encoding="utf-8")
    ids = [int(line.split(",")[1]) for line in standard.splitlines()[1:]]
    assert rejected not in ids and ids == sorted(ids) and ids
    std = svc.list_exports(ctx)[0]
    gl = svc.export_journal(ctx, "2025-01", "gl").export
    summary = svc.export_journal(ctx, "2025-01", "summary").export
    assert std.totals[0].charged == gl.totals[0].charged == summary.totals[0].charged == _charged(ctx)
    assert std.rows == len(ids)


def test_account_codes_from_tags_and_their_validation(db_url, make_journal_ctx, tmp_path):
    ctx = make_journal_ctx(db_url, journal={"account_code_regex": r"\d{4}"})
    tags = {"pi_email": "pi@example.edu", "project_id": "proj-1", "fund_org": "BIO-2024-001"}
    rows = [
        row(cost="10.004", tags={**tags, "account_code": "7001"}),
        row(cost="5.004", tags={**tags, "account_code": "7002"}, ResourceId="r-2"),
        row(cost="1.00", tags=tags, ResourceId="r-3"),
        row(cost="2.00", tags={**tags, "account_code": "70X1"}, ResourceId="r-4"),
    ]
    ingest(ctx, write_csv(tmp_path / "aws.csv", rows), "aws")
    approve_all(ctx)
    close(ctx)
    with pytest.raises(InvalidInput) as e:
        svc.export_journal(ctx, "2025-01", "gl")
    assert "account code '70X1' does not match journal.account_code_regex" in e.value.message
    bad = [
        c.id
        for c in review.list_queue(ctx, "2025-01", review.Selection(status="all")).items
        if c.billed_cost == Decimal("2.00")
    ][0]
    assert f"charge {bad} (source aws)" in e.value.message
    reopen(ctx)
    review.reject(ctx, "2025-01", review.Selection(ids=(bad,), status="all"), note="wrong account")
    close(ctx)
    _, rows = read_gl(Path(svc.export_journal(ctx, "2025-01", "gl").path).read_bytes())
    debits = {r["Account"]: r["Debit"] for r in rows if r["Debit"]}
    # one statement line of 16.008 -> 16.01, apportioned between its accounts exactly
    # (the uncoded part takes the source's debit account; the leftover cent goes to the largest)
    assert debits == {"7410": "1.00", "7001": "10.01", "7002": "5.00"}
    assert [(r["Fund"], r["Orgn"], r["Account"], r["Credit"]) for r in rows if r["Credit"]] == [
        ("RC", "CLOUD-0001", "4410", "16.01")
    ]


def test_delta_after_a_correction(db_url, make_journal_ctx):
    ctx = make_journal_ctx(db_url)
    _ready(ctx)
    first = svc.export_journal(ctx, "2025-01", "gl")
    reopen(ctx)
    draft = svc.export_journal(ctx, "2025-01", "gl", draft=True, delta=True)
    assert draft.export.basis_id == first.export.id and "nothing changed since that export" in draft.notes
    add_adjustment(
        ctx,
        "2025-01",
        "-100.00",
        "goodwill",
        project_id="genomics-sequencing",
        pi_email="zorp.blinkman@example.edu",
        fund_org="BIO-2024-001",
        source="aws",
    )
    close(ctx)
    d = svc.export_journal(ctx, "2025-01", "gl", delta=True)
    assert d.export.basis_id == first.export.id  # drafts are never the basis
    assert d.path.endswith("journal-2025-01-gl-003-delta.csv")
    _, rows = read_gl(Path(d.path).read_bytes())
    assert all(r["Reference"] == "OCB-2025-01-aws" for r in rows)  # storage did not change
    # the genomics debit and the aws credit, each reversed and posted again
    assert [(r["Fund"], r["Description"][:4] == "REV ") for r in rows] == [
        ("BIO", True),
        ("BIO", False),
        ("RC", True),
        ("RC", False),
    ]
    old, new = Decimal(rows[0]["Credit"]), Decimal(rows[1]["Debit"])
    assert old - new == Decimal("100.00")
    debit, credit = gl_sums(rows)
    assert debit == credit
    full = svc.export_journal(ctx, "2025-01", "gl", again=True)  # the whole journal again
    _, now = read_gl(Path(full.path).read_bytes())
    assert gl_sums(now)[0] == _charged(ctx)
    again = svc.export_journal(ctx, "2025-01", "gl", delta=True)  # against export 4 now
    assert again.export.basis_id == full.export.id and again.export.rows == 0


def test_user_templates_and_their_errors(db_url, make_journal_ctx, tmp_path):
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "oracle.csv.j2").write_text(
        '{{ csv_row("Ledger", "Account", "Amount", "Desc") }}\n'
        "{% for p in postings %}"
        "{{ csv_row(p.fund ~ '.' ~ p.orgn, p.account, p.amount | cents, p.description) }}\n"
        "{% endfor %}{{ csv_row('charges', charges | length, totals.USD.debit | cents) }}\n"
    )
    (tdir / "broken.txt.j2").write_text(
        "{{ period.name }}\n{% for s in sources %}\n{{ s.nope }}\n{% endfor %}\n"
    )
    ctx = make_journal_ctx(db_url, journal={"template_dir": str(tdir)})
    _ready(ctx)
    assert svc.list_formats(ctx) == ("standard", "summary", "gl", "broken", "oracle", "postings")
    r = svc.export_journal(ctx, "2025-01", "oracle")
    lines = Path(r.path).read_text(encoding="utf-8").splitlines()
    assert r.path.endswith("journal-2025-01-oracle-001.csv")
    assert lines[0] == "Ledger,Account,Amount,Desc" and lines[1].startswith("ADNI.PILOT-2024,7410,1568.25,")
    assert lines[-1].startswith("charges,") and r.export.totals[0].debit == r.export.totals[0].credit
    with pytest.raises(InvalidInput, match=r"journal template broken\.txt\.j2, line 3: .*nope"):
        svc.export_journal(ctx, "2025-01", "broken", again=True)
    with pytest.raises(NotFound, match="available: standard, summary, gl, broken, oracle, postings"):
        svc.export_journal(ctx, "2025-01", "sap")
    assert [e.format for e in svc.list_exports(ctx)] == ["oracle"]
    packaged = svc.export_journal(ctx, "2025-01", "postings", draft=True)
    text = Path(packaged.path).read_text(encoding="utf-8")
    assert text.startswith("DRAFT - not for posting: period 2025-01 is closed\nJournal,Line,Currency,")


def test_concurrent_exports_take_running_numbers_in_turn(db_url, make_journal_ctx):
    from concurrent.futures import ThreadPoolExecutor

    ctx = make_journal_ctx(db_url)
    _ready(ctx)
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda fmt: svc.export_journal(ctx, "2025-01", fmt, write=False, again=True),
                ["gl", "summary", "gl", "standard"],
            )
        )
    assert sorted(r.export.sequence for r in results) == [1, 2, 3, 4]
    assert len({r.export.file_name for r in results}) == 4


def test_two_concurrent_postings_of_a_period_one_is_refused(db_url, make_journal_ctx):
    """The duplicate-posting guard holds under concurrency: the period row is held (a SQLite
    writer holds the database), so of two gl exports at once exactly one posts."""
    from concurrent.futures import ThreadPoolExecutor

    ctx = make_journal_ctx(db_url)
    _ready(ctx)

    def attempt(_):
        try:
            return svc.export_journal(ctx, "2025-01", "gl", write=False).export.sequence
        except Conflict as e:
            return e.message

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(attempt, range(2)))
    assert sorted(outcomes, key=str).count(1) == 1, outcomes
    (refusal,) = [o for o in outcomes if o != 1]
    assert "was exported for posting before: export 1" in refusal
    assert [(e.sequence, e.again) for e in svc.list_exports(ctx, "2025-01")] == [(1, False)]
