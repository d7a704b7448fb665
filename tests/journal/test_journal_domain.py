"""The pure parts of journals: fund/org parsing, account precedence and validation,
refusals naming the object, apportioning, descriptions, --delta, CSV safety and
template errors."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from openchargeback.config import JournalSettings
from openchargeback.domain import journal as dom
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import proportional
from openchargeback.rendering import journal as rendering

D = Decimal
AWS = dom.Recovery("aws", "Amazon Web Services", "RC-CLOUD-0001", "4410")
HPC = dom.Recovery("hpc", "HPC Cluster", "RC-HPC-0002", "4420")
RECOVERIES = {"aws": AWS, "hpc": HPC}


def make_rules(**settings) -> dom.Rules:
    """Journal rules with a debit (expense) account, distinct from the sources' recovery."""
    return dom.Rules(**{"debit_account": "7400", **settings})


def entry(
    amount: str,
    fund: str | None = "BIO-2024-001",
    source: str = "aws",
    account: str | None = None,
    project: str = "genomics",
    pi: str = "pi@example.edu",
    service: str = "EC2",
) -> dom.Entry:
    return dom.Entry("USD", source, pi, project, fund, account, D(amount), "charge", service)


# -- fund/org parsing -----------------------------------------------------------------------------
def test_default_regex_parses_fund_and_orgn():
    default = JournalSettings().fund_org_regex
    assert dom.parse_fund_org("BIO-2024-001", default) == {
        "fund": "BIO",
        "orgn": "2024-001",
        "account": "",
        "program": "",
        "activity": "",
        "location": "",
    }
    assert dom.parse_fund_org("ENGR", default)["fund"] == "ENGR"
    assert dom.parse_fund_org("-X", default) is None


def test_named_groups_fill_every_column():
    pattern = (
        r"(?P<fund>\d{6})-(?P<orgn>\d{5})-(?P<account>\d{4})(?:-(?P<program>P\d\d))?"
        r"(?:/(?P<activity>[A-Z]+))?(?:@(?P<location>L\d))?"
    )
    parts = dom.parse_fund_org("123456-54321-7420-P01/GRANT@L2", pattern)
    assert parts == {
        "fund": "123456",
        "orgn": "54321",
        "account": "7420",
        "program": "P01",
        "activity": "GRANT",
        "location": "L2",
    }
    assert dom.parse_fund_org("123456-54321-7420", pattern)["program"] == ""
    assert dom.parse_fund_org("123456-54321", pattern) is None  # the whole string must match
    assert dom.parse_fund_org("x123456-54321-7420", pattern) is None


def test_config_refuses_unknown_groups_and_bad_patterns():
    with pytest.raises(ValueError, match="unknown named group"):
        JournalSettings(fund_org_regex=r"(?P<fund>\w+)-(?P<dept>\w+)")
    with pytest.raises(ValueError, match="fund"):
        JournalSettings(fund_org_regex=r"(?P<orgn>\w+)")
    with pytest.raises(ValueError, match="regular expression"):
        JournalSettings(account_code_regex="([0-9")
    with pytest.raises(ValueError, match=r"\{projet\}"):
        JournalSettings(description="{source} {projet}")


def test_a_fund_org_that_does_not_match_stops_the_export_naming_it():
    rules = make_rules(fund_org_regex=r"(?P<fund>[A-Z]+)-(?P<orgn>\d{4}-\d{3})")
    with pytest.raises(dom.JournalRefused) as e:
        dom.build_postings("2025-01", [entry("10"), entry("5", fund="NOPE")], RECOVERIES, [], rules)
    assert "fund/org 'NOPE'" in e.value.message and "project genomics" in e.value.message
    assert "journal.fund_org_regex" in e.value.message
    assert "RC-CLOUD-0001" in e.value.message  # the recovery fund/org does not match either


# -- accounts --------------------------------------------------------------------------------------
def test_debit_account_precedence_tag_fund_org_service_source_journal_default():
    pattern = r"(?P<fund>[A-Z]+)-(?P<orgn>[A-Z0-9]+)(?:-(?P<account>\d{4}))?"
    src = dom.SourceAccounts("7410", {"ec2": "7420"})
    rules = dom.Rules(pattern, debit_account="7400", default_account="9999", sources={"aws": src})
    assert dom.debit_account(entry("1", account="7001", fund="BIO-2024-7002"), rules) == ("7001", "charge")
    assert dom.debit_account(entry("1", fund="BIO-2024-7002"), rules) == ("7002", "fund_org")
    assert dom.debit_account(entry("1", fund="BIO-2024"), rules) == ("7420", "service")  # EC2, any case
    assert dom.debit_account(entry("1", fund="BIO-2024", service="S3"), rules) == ("7410", "source")
    assert dom.debit_account(entry("1", fund="BIO-2024", source="hpc"), rules) == ("7400", "journal")
    rules = dom.Rules(pattern, default_account="9999")
    assert dom.debit_account(entry("1", fund="BIO-2024", source="hpc"), rules) == ("9999", "default")
    assert dom.debit_account(entry("1", fund="BIO-2024"), dom.Rules(pattern)) == (None, "none")


def test_the_pi_fund_is_never_debited_on_the_recovery_account():
    # the source's gl_account is the recovery (credit) account: it is never the debit's
    rules = dom.Rules(default_account="9000")
    no_account = {"aws": dom.Recovery("aws", "AWS", "RC-CLOUD-0001", None)}
    with pytest.raises(dom.JournalRefused) as e:
        dom.build_postings(
            "2025-01", [entry("10", account="7001"), entry("5", project="p2")], no_account, [], rules
        )
    assert "the debit account '9000' (from journal.default_account) is also the source's recovery" in (
        e.value.message
    )
    assert "journal.sources.aws.debit_account" in e.value.message
    postings = dom.build_postings("2025-01", [entry("5")], RECOVERIES, [], rules)
    assert {(p.role, p.account, p.account_origin) for p in postings} == {
        ("charge", "9000", "default"),
        ("recovery", "4410", "source"),
    }
    with pytest.raises(dom.JournalRefused, match="debit account '4410' .from the account_code tag"):
        dom.build_postings("2025-01", [entry("5", account="4410")], RECOVERIES, [], rules)


def test_fund_org_account_group_comes_before_the_source():
    rules = dom.Rules(
        fund_org_regex=r"(?P<fund>[A-Z]+)-(?P<orgn>[A-Z0-9]+)(?:-(?P<account>\d{4}))?",
        sources={"aws": dom.SourceAccounts("7410")},
    )
    postings = dom.build_postings(
        "2025-01", [entry("5", fund="BIO-2024-7300"), entry("1", fund="BIO-2024")], RECOVERIES, [], rules
    )
    assert {(p.fund_org, p.account) for p in postings if p.role == "charge"} == {
        ("BIO-2024-7300", "7300"),
        ("BIO-2024", "7410"),
    }


def test_invalid_account_codes_name_the_charge_source_or_setting():
    rules = make_rules(account_code_regex=r"\d{4}", default_account="DEF")
    bad_source = {"aws": dom.Recovery("aws", "AWS", "RC-CLOUD-0001", "44-10"), "hpc": HPC}
    tags = [dom.TagCode("7A01", 1234, 3, "aws"), dom.TagCode("7001", 99, 1, "aws")]
    with pytest.raises(dom.JournalRefused) as e:
        dom.build_postings(
            "2025-01", [entry("10", account="7A01"), entry("3", source="hpc")], bad_source, tags, rules
        )
    msg = e.value.message
    assert "charge 1234 (source aws, and 2 more charge(s) with this code): account code '7A01'" in msg
    assert "source aws: gl_account '44-10' does not match journal.account_code_regex" in msg
    assert "journal.default_account 'DEF'" in msg
    assert "7001" not in msg
    assert msg.startswith("journal of period 2025-01 not exported:")


def test_missing_recovery_refuses_naming_the_source():
    no_fund = {"aws": AWS, "hpc": dom.Recovery("hpc", "HPC", None, "4420")}
    with pytest.raises(dom.JournalRefused, match=r"source hpc has no recovery fund/org \(gl_fund_org\)"):
        dom.build_postings("2025-01", [entry("1"), entry("2", source="hpc")], no_fund, [], make_rules())
    no_account = {"aws": dom.Recovery("aws", "AWS", "RC-CLOUD-0001", None)}
    with pytest.raises(dom.JournalRefused, match=r"source aws has no recovery account"):
        dom.build_postings("2025-01", [entry("1")], no_account, [], make_rules())
    unknown = dom.build_postings  # a source missing from the recoveries altogether
    with pytest.raises(dom.JournalRefused, match="source gcp has no recovery fund/org"):
        unknown("2025-01", [entry("1", source="gcp")], RECOVERIES, [], make_rules())


def test_lines_without_fund_and_sourceless_adjustments_are_refused_or_credited():
    with pytest.raises(dom.JournalRefused, match="have no fund/org"):
        dom.build_postings("2025-01", [entry("1", fund=None)], RECOVERIES, [], make_rules())
    adj = dom.Entry(
        "USD", dom.NO_SOURCE, "pi@example.edu", "genomics", "BIO-2024-001", None, D("-2.50"), "adjustment"
    )
    with pytest.raises(dom.JournalRefused, match="journal.adjustment_fund_org"):
        dom.build_postings("2025-01", [adj], RECOVERIES, [], make_rules())
    rules = make_rules(adjustment_fund_org="RC-ADMIN-0000", adjustment_account="4400")
    postings = dom.build_postings("2025-01", [adj, entry("10")], RECOVERIES, [], rules)
    adj_side = [p for p in postings if p.source == dom.NO_SOURCE]
    assert [(p.role, p.debit, p.credit, p.fund_org) for p in adj_side] == [
        ("charge", 0, D("2.50"), "BIO-2024-001"),
        ("recovery", D("2.50"), 0, "RC-ADMIN-0000"),
    ]
    assert not dom.imbalances(postings)


# -- balancing and descriptions -------------------------------------------------------------------
def test_each_source_balances_and_net_credits_change_column():
    entries = [
        entry("10.00"),
        entry("5.25", project="p2", fund="CHEM-1"),
        entry("-20.00", source="hpc"),
        entry("3.00", source="hpc", fund="CHEM-1"),
        entry("0.00", project="zero"),
    ]
    postings = dom.build_postings("2025-01", entries, RECOVERIES, [], make_rules())
    assert not dom.imbalances(postings)
    hpc = [(p.role, p.fund_org, p.debit, p.credit) for p in postings if p.source == "hpc"]
    assert hpc == [
        ("charge", "BIO-2024-001", 0, D("20.00")),
        ("charge", "CHEM-1", D("3.00"), 0),
        ("recovery", "RC-HPC-0002", D("17.00"), 0),
    ]
    assert all(p.project_id != "zero" for p in postings)  # nothing to post
    assert dom.totals(postings)["USD"] == {
        "debit": D("35.25"),
        "credit": D("35.25"),
        "charged": D("-1.75"),
        "subsidy": D(0),
    }


def test_descriptions_and_references_follow_the_patterns_and_are_cut():
    rules = make_rules(
        description="{source_name} / {period} / {project} / {pi}",
        description_max_length=30,
        credit_description="{source} {period} recovery {account}",
        reference="{period}{source}",
        reference_max_length=8,
    )
    postings = dom.build_postings(
        "2025-01", [entry("1", project="a-very-long-project-name")], RECOVERIES, [], rules
    )
    debit, credit = postings
    assert debit.description == "Amazon Web Services / 2025-01"  # cut at 30, trailing space dropped
    assert len(debit.description) <= 30
    assert credit.description == "aws 2025-01 recovery 4410"
    assert debit.reference == credit.reference == "2025-01a"
    assert dom.describe("{source}   {project}  x", {"source": "aws", "project": None}, 50) == "aws x"


# -- dividing a line between account codes: the one leftover policy ----------------------------------
def test_proportional_adds_up_exactly_whatever_the_signs():
    assert proportional(D("10.01"), [D("5.004"), D("5.004")], 2) == (D("5.01"), D("5.00"))
    assert proportional(D("0.00"), [D("5.004"), D("-5.004")], 2) == (D("0.00"), D("0.00"))
    assert proportional(D("6.00"), [D("7.5"), D("2.5")], 2) == (D("4.50"), D("1.50"))
    assert proportional(D("3.33"), [D("1")], 2) == (D("3.33"),)
    assert proportional(D("1.00"), [], 2) == ()
    assert proportional(D("100"), [D("1"), D("1"), D("1")], 0) == (D("34"), D("33"), D("33"))


# -- delta ----------------------------------------------------------------------------------------
def test_delta_reverses_and_reposts_changed_lines_only():
    rules = make_rules()
    before = dom.build_postings(
        "2025-01",
        [entry("10"), entry("4", project="p2"), entry("7", source="hpc"), entry("1", project="gone")],
        RECOVERIES,
        [],
        rules,
    )
    after = dom.build_postings(
        "2025-01",
        [entry("12"), entry("4", project="p2"), entry("7", source="hpc"), entry("2", project="new")],
        RECOVERIES,
        [],
        rules,
    )
    d = dom.delta(before, after, rules)
    assert not dom.imbalances(d)
    rows = [(p.project_id, p.role, p.reversal, p.amount) for p in d]
    assert rows == [
        ("genomics", "charge", True, D("-10")),
        ("genomics", "charge", False, D("12")),
        ("gone", "charge", True, D("-1")),
        ("new", "charge", False, D("2")),
        (None, "recovery", True, D("15")),
        (None, "recovery", False, D("-18")),
    ]
    assert all(p.source == "aws" for p in d)  # hpc and p2 did not change
    assert d[0].description.startswith("REV aws 2025-01 genomics")
    assert dom.delta(after, after, rules) == ()
    assert dom.delta([], after, rules) == after
    # what was posted plus the delta is what should be posted now
    net: dict = {}
    for p in (*before, *d):
        net[p.key] = net.get(p.key, 0) + p.amount
    assert {k: v for k, v in net.items() if v} == {p.key: p.amount for p in after}


def test_postings_survive_json():
    postings = dom.build_postings("2025-01", [entry("10.5", account="7001")], RECOVERIES, [], make_rules())
    assert tuple(dom.Posting.from_json(p.as_json()) for p in postings) == postings


# -- files ----------------------------------------------------------------------------------------
def test_gl_csv_layout_quoting_and_formula_neutralisation():
    rules = make_rules(description="{project}", description_max_length=60)
    postings = dom.build_postings(
        "2025-01",
        [entry("1234.5", project='=HYPERLINK("http://x","y")'), entry("-2", project='+cmd, "quoted"\nnext')],
        RECOVERIES,
        [],
        rules,
    )
    text = rendering.render_gl(postings).decode()
    lines = text.split("\r\n")
    assert lines[0] == "Fund,Orgn,Account,Program,Activity,Location,Debit,Credit,Description,Reference"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(rendering.GL_HEADER) and all(len(r) == 10 for r in rows)
    by_desc = {r[8]: r for r in rows[1:]}
    assert '\'=HYPERLINK("http://x","y")' in by_desc
    assert '\'+cmd, "quoted" next' in by_desc  # whitespace collapsed, formula neutralised
    first = by_desc['\'=HYPERLINK("http://x","y")']
    assert first[:8] == ["BIO", "2024-001", "7400", "", "", "", "1234.50", ""]
    assert by_desc['\'+cmd, "quoted" next'][6:8] == ["", "2.00"]
    assert text.endswith("\r\n")


def test_draft_line_comes_before_the_header():
    text = rendering.render_gl([], "period 2025-01 is open").decode()
    assert text == (
        "DRAFT - not for posting: period 2025-01 is open\r\n"
        "Fund,Orgn,Account,Program,Activity,Location,Debit,Credit,Description,Reference\r\n"
    )


def test_csv_row_neutralises_and_quotes():
    assert rendering.csv_row("=1+1", "-5.00", 'a "b"', None, "@x") == '\'=1+1,-5.00,"a ""b""",,\'@x'


# -- templates ------------------------------------------------------------------------------------
def _env(tmp_path, name: str, source: str):
    (tmp_path / name).write_text(source)
    return rendering.template_env(tmp_path)


def test_template_syntax_error_names_template_and_line(tmp_path):
    env = _env(tmp_path, "oracle.csv.j2", "line one\n{% for p in postings %}\n{{ p.fund }\n{% endfor %}\n")
    name, ext = rendering.find_template(env, "oracle")
    assert (name, ext) == ("oracle.csv.j2", "csv")
    with pytest.raises(InvalidInput, match=r"journal template oracle\.csv\.j2, line 3: "):
        rendering.render_template(env, name, {"postings": []})


def test_template_runtime_error_names_template_and_line(tmp_path):
    env = _env(tmp_path, "sap.j2", "{{ csv_row('a') }}\n{% for p in postings %}\n{{ p.fundd }}\n{% endfor %}")
    name, ext = rendering.find_template(env, "sap")
    assert ext == "txt"
    with pytest.raises(InvalidInput, match=r"journal template sap\.j2, line 3: .*fundd"):
        rendering.render_template(env, name, {"postings": [{"fund": "X"}]})
    env = _env(tmp_path, "div.csv.j2", "ok\n\n{{ 1 / 0 }}\n")
    with pytest.raises(InvalidInput, match=r"journal template div\.csv\.j2, line 3: "):
        rendering.render_template(env, "div.csv.j2", {})


def test_template_errors_in_an_included_template_name_that_template(tmp_path):
    (tmp_path / "part.j2").write_text("one\ntwo {{ missing }}\n")
    env = _env(tmp_path, "main.csv.j2", "{% include 'part.j2' %}\n")
    with pytest.raises(InvalidInput, match=r"journal template part\.j2, line 2: 'missing' is undefined"):
        rendering.render_template(env, "main.csv.j2", {})
    env = _env(tmp_path, "gone.csv.j2", "{% include 'nowhere.j2' %}\n")
    with pytest.raises(InvalidInput, match="nowhere.j2"):
        rendering.render_template(env, "gone.csv.j2", {})


def test_site_template_extends_the_packaged_one_and_sandbox_holds(tmp_path):
    env = _env(
        tmp_path,
        "mine.csv.j2",
        '{% extends "default:postings.csv.j2" %}{% block header %}{{ csv_row("Custom") }}\n{% endblock %}',
    )
    assert rendering.template_formats(env) == ("mine", "postings")
    ctx = {"export": {"draft": False, "name": "j"}, "postings": []}
    assert rendering.render_template(env, "mine.csv.j2", ctx) == b"Custom\n"
    assert rendering.needs(env, "mine.csv.j2") >= {"export", "postings"}
    env = _env(tmp_path, "evil.j2", "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(InvalidInput, match=r"journal template evil\.j2"):
        rendering.render_template(env, "evil.j2", {})
    with pytest.raises(Exception, match="neither built in nor a template"):
        rendering.find_template(env, "nothing")
