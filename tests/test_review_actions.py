"""Review actions on SQLite and PostgreSQL: approve, reject (note required, reversible),
correct (ids, resource id, tag; saved as an attribution rule for later imports), bulk
actions on a filter, the action log, the close gate, closed periods, rules (set,
preview, recheck), and rejected money left out of every sum."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from focus_builders import row, write_csv
from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.services import audit, charges, insights
from openchargeback.services import review as rv
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.periods import change_status, get_period
from openchargeback.services.reports import period_totals

INPUTS = Path(__file__).resolve().parent.parent / "sample_data" / "inputs"
P = "2025-01"
GOOD = {"pi_email": "pi@example.edu", "project_id": "proj-1", "fund_org": "FUND-1"}
NO_PROJECT = {"pi_email": "pi@example.edu", "fund_org": "FUND-1"}
NO_PI = {"project_id": "proj-1", "fund_org": "FUND-1"}


def state(ctx) -> dict[int, tuple]:
    """id -> (review, flags, pi, project, fund) straight from the table."""
    with ctx.engine.connect() as conn:
        return {
            r.id: (r.review, r.flags, r.pi_email, r.project_id, r.fund_org)
            for r in conn.execute(
                text("SELECT id, review, flags, pi_email, project_id, fund_org FROM charges")
            )
        }


def by_cost(ctx, period: str = P, status: str = "all") -> dict[Decimal, rv.QueueItem]:
    return {
        i.billed_cost: i for i in rv.list_queue(ctx, period, rv.Selection(status=status), limit=1000).items
    }


def ids(items) -> tuple[int, ...]:
    return tuple(i.id for i in items)


@pytest.fixture
def sample(db_url, make_ctx):
    """aws 2025-01 with every charge above 1000 flagged (5 of 25), as reviewer alice."""
    ctx = make_ctx(db_url, actor="alice", review={"max_charge": 1000})
    ingest(ctx, INPUTS / "aws_2025-01.csv", "aws")
    return ctx


@pytest.fixture
def mixed(db_url, make_ctx, tmp_path):
    """aws and azure charges with missing attribution."""
    ctx = make_ctx(db_url, actor="alice")
    ingest(
        ctx,
        write_csv(
            tmp_path / "aws.csv",
            [
                row(cost="1", tags=GOOD),
                row(cost="2", tags=NO_PROJECT),
                row(cost="3", tags=NO_PROJECT),
                row(cost="4", tags=NO_PI),
                row(cost="5", tags=NO_PROJECT, ResourceId="i-lost"),
            ],
        ),
        "aws",
    )
    ingest(
        ctx,
        write_csv(tmp_path / "azure.csv", [row(cost="20", tags=NO_PROJECT), row(cost="30", tags=GOOD)]),
        "azure",
    )
    return ctx


# -- approve / reject ------------------------------------------------------------------------------


def test_approve_by_ids_takes_charges_out_of_the_queue_and_logs_it(sample):
    before = rv.list_queue(sample, P)
    assert before.count == 5 and before.total == Decimal("9987.50")
    top = before.items[:2]
    result = rv.approve(sample, P, rv.Selection(ids=ids(top)), note="checked with the PI")
    assert (result.action, result.count, result.total) == ("approved", 2, Decimal(2975 + 2040))
    after = rv.list_queue(sample, P)
    assert after.count == 3 and after.total == Decimal("9987.50") - 2975 - 2040
    assert set(ids(after.items)).isdisjoint(ids(top))
    approved = rv.list_queue(sample, P, rv.Selection(status="approved"), limit=100)
    assert set(ids(top)) <= set(ids(approved.items)) and approved.count == 22
    h = rv.history(sample, top[0].id)
    assert [(a.action, a.before, a.after, a.note, a.actor) for a in h] == [
        ("approve", {"review": None}, {"review": "approved"}, "checked with the PI", "alice")
    ]
    assert h[0].at is not None
    assert rv.pending(sample, P) == (3, after.total)


def test_approve_refuses_ids_of_another_period_and_changes_nothing(sample, tmp_path):
    ingest(sample, write_csv(tmp_path / "feb.csv", [row("2025-02", cost="5000")]), "azure")
    feb = rv.list_queue(sample, "2025-02").items[0]
    jan = rv.list_queue(sample, P).items[0]
    snapshot = state(sample)
    with pytest.raises(NotFound, match=str(feb.id)):
        rv.approve(sample, P, rv.Selection(ids=(jan.id, feb.id)))
    with pytest.raises(NotFound):
        rv.approve(sample, P, rv.Selection(ids=(999_999,)))
    assert state(sample) == snapshot
    assert rv.history(sample, jan.id) == ()


@pytest.mark.parametrize("note", [None, "", "   "])
def test_reject_needs_a_note(sample, note):
    item = rv.list_queue(sample, P).items[0]
    with pytest.raises(InvalidInput, match="note"):
        rv.reject(sample, P, rv.Selection(ids=(item.id,)), note)
    assert state(sample)[item.id][0] is None


def test_reject_then_reverse_by_approving(sample):
    item = rv.list_queue(sample, P).items[0]
    full = period_totals(sample, P).totals
    result = rv.reject(sample, P, rv.Selection(ids=(item.id,)), "  duplicate of invoice 42 ")
    assert (result.action, result.count, result.total) == ("rejected", 1, item.billed_cost)
    rejected = rv.list_queue(sample, P, rv.Selection(status="rejected"))
    assert ids(rejected.items) == (item.id,)
    assert rejected.items[0].review_note == "duplicate of invoice 42"
    assert rv.list_queue(sample, P).count == 4
    assert period_totals(sample, P).totals.billed_cost == full.billed_cost - item.billed_cost
    # approving a rejected charge reverses the rejection
    rv.approve(sample, P, rv.Selection(ids=(item.id,)), note="it was not a duplicate")
    assert state(sample)[item.id][0] == "approved"
    assert period_totals(sample, P).totals == full
    h = rv.history(sample, item.id)
    assert [(a.action, a.before, a.after, a.note) for a in h] == [
        ("reject", {"review": None}, {"review": "rejected"}, "duplicate of invoice 42"),
        ("approve", {"review": "rejected"}, {"review": "approved"}, "it was not a duplicate"),
    ]
    # and the other way round: an approved charge can be rejected while the period is open
    rv.reject(sample, P, rv.Selection(ids=(item.id,)), "after all")
    assert state(sample)[item.id][0] == "rejected"


def test_bulk_actions_on_a_filter(mixed):
    r = rv.approve(mixed, P, rv.Selection(reason="missing_project", source="aws"))
    assert (r.count, r.total) == (3, Decimal(10))
    left = by_cost(mixed, status="pending")
    assert sorted(left) == [Decimal(4), Decimal(20)]  # aws missing_pi, azure missing_project
    assert left[Decimal(20)].source == "azure"
    # a filter selects pending charges only (unless told otherwise): a rejected one stays rejected
    rv.reject(mixed, P, rv.Selection(source="azure"), "not ours")
    r = rv.approve(mixed, P, rv.Selection())
    assert (r.count, r.total) == (1, Decimal(4))
    everything = by_cost(mixed)
    assert everything[Decimal(20)].review == "rejected"
    assert everything[Decimal(4)].review == "approved"
    assert everything[Decimal(1)].review is None  # never flagged: nothing to decide
    assert rv.list_queue(mixed, P).count == 0
    # bulk reject by PI and amount, over every status
    r = rv.reject(
        mixed,
        P,
        rv.Selection(status="all", pi_email="pi@example.edu", min_amount=Decimal(3)),
        "wrong account",
    )
    assert (r.count, r.total) == (4, Decimal(3 + 5 + 20 + 30))
    assert {c: i.review for c, i in by_cost(mixed).items()} == {
        Decimal(1): None,
        Decimal(2): "approved",
        Decimal(3): "rejected",
        Decimal(4): "approved",
        Decimal(5): "rejected",
        Decimal(20): "rejected",
        Decimal(30): "rejected",
    }
    # every charge touched by a bulk action has its own history entry
    assert [a.action for a in rv.history(mixed, by_cost(mixed)[Decimal(3)].id)] == ["approve", "reject"]


def test_filters_of_the_queue(mixed):
    def costs(**kw):
        return sorted(i.billed_cost for i in rv.list_queue(mixed, P, rv.Selection(**kw)).items)

    assert costs() == [2, 3, 4, 5, 20]
    assert costs(source="azure") == [20]
    assert costs(reason="missing_pi") == [4]
    assert costs(reason="missing") == []  # a whole code, not a prefix
    assert costs(pi_email="pi@example.edu") == [2, 3, 5, 20]
    assert costs(project_id="proj-1") == [4]
    assert costs(fund_org="FUND-1", min_amount=Decimal("4.5")) == [5, 20]
    assert costs(resource_id="i-lost") == [5]
    assert costs(status="flagged") == [2, 3, 4, 5, 20]
    assert costs(status="all") == [1, 2, 3, 4, 5, 20, 30]
    with pytest.raises(NotFound, match="unknown source"):
        costs(source="gcp")
    with pytest.raises(InvalidInput, match="status"):
        costs(status="maybe")
    with pytest.raises(NotFound, match="2024-07"):
        rv.list_queue(mixed, "2024-07")


# -- corrections ----------------------------------------------------------------------------------


def test_correct_by_ids_recomputes_flags_and_logs_before_and_after(mixed):
    item = by_cost(mixed)[Decimal(2)]
    assert item.flags == ("missing_project",)
    r = rv.correct(mixed, P, rv.Selection(ids=(item.id,)), project_id="proj-9", note="per ticket 7")
    assert (r.action, r.count, r.total, r.rule_id) == ("corrected", 1, Decimal(2), None)
    review, flags, pi, project, fund = state(mixed)[item.id]
    assert (review, flags, pi, project, fund) == (None, None, "pi@example.edu", "proj-9", "FUND-1")
    assert item.id not in ids(rv.list_queue(mixed, P).items)  # nothing left to look at
    [a] = rv.history(mixed, item.id)
    assert (a.action, a.note, a.actor) == ("correct", "per ticket 7", "alice")
    assert a.before == {"pi_email": "pi@example.edu", "project_id": None, "fund_org": "FUND-1"}
    assert a.after == {"pi_email": "pi@example.edu", "project_id": "proj-9", "fund_org": "FUND-1"}
    groups = dict(period_totals(mixed, P, by="project").groups)
    assert groups["proj-9"].billed_cost == Decimal(2)


def test_a_correction_that_leaves_a_flag_keeps_the_charge_pending(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, review={"fund_org_patterns": ["FUND-\\d"]})
    ingest(ctx, write_csv(tmp_path / "a.csv", [row(cost="7", tags={"pi_email": "x"})]), "aws")
    item = rv.list_queue(ctx, P).items[0]
    assert item.flags == ("missing_project", "missing_fund_org", "pi_not_email")
    rv.correct(ctx, P, rv.Selection(ids=(item.id,)), project_id="p", fund_org="nope")
    assert rv.list_queue(ctx, P).items[0].flags == ("pi_not_email", "fund_org_unknown")
    rv.correct(ctx, P, rv.Selection(ids=(item.id,)), pi_email="x@example.edu", fund_org="fund-1")
    assert rv.list_queue(ctx, P).count == 0
    assert state(ctx)[item.id][1:] == (None, "x@example.edu", "p", "fund-1")


def test_correct_by_resource_id_and_by_tag(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    ingest(
        ctx,
        write_csv(
            tmp_path / "a.csv",
            [
                row(cost="1", tags=NO_PROJECT, ResourceId="i-a"),
                row(cost="2", tags=GOOD, ResourceId="i-a"),
                row(cost="3", tags=NO_PROJECT, ResourceId="i-b"),
                row(cost="4", tags={**NO_PROJECT, "Team": "astro"}, ResourceId="i-c"),
                row(cost="5", tags={**GOOD, "team": "astro"}, ResourceId="i-d"),
                row(cost="6", tags={**NO_PROJECT, "team": "Astro"}, ResourceId="i-e"),  # another value
            ],
        ),
        "aws",
    )
    r = rv.correct(ctx, P, rv.Selection(status="all", resource_id="i-a"), project_id="alpha")
    assert (r.count, r.total) == (2, Decimal(3))
    r = rv.correct(ctx, P, rv.Selection(status="all"), project_id="astro", tag=(" TEAM ", "astro"))
    assert (r.count, r.total) == (2, Decimal(9))
    got = {c: (i.project_id, i.flags) for c, i in by_cost(ctx).items()}
    assert got == {
        Decimal(1): ("alpha", ()),
        Decimal(2): ("alpha", ()),
        Decimal(3): (None, ("missing_project",)),
        Decimal(4): ("astro", ()),
        Decimal(5): ("astro", ()),
        Decimal(6): (None, ("missing_project",)),
    }
    with pytest.raises(NotFound):
        rv.correct(ctx, P, rv.Selection(status="all"), project_id="x", tag=("team", "nobody"))
    with pytest.raises(InvalidInput, match="at least one"):
        rv.correct(ctx, P, rv.Selection(status="all", resource_id="i-b"))


def test_saved_rule_by_resource_applies_at_the_next_import_of_another_file(sample):
    jan = [i for i in by_cost(sample).values() if i.resource_id == "i-0abc123def456789a"]
    assert len(jan) == 1 and jan[0].project_id == "genomics-sequencing"
    r = rv.correct(
        sample,
        P,
        rv.Selection(ids=(jan[0].id,)),
        project_id="genomics-2",
        fund_org="BIO-2025-777",
        note="moved to the new grant",
        save_rule=True,
    )
    assert r.rule_id is not None
    entries = audit.list_entries(sample, action="review.attribution_rule").entries
    assert len(entries) == 1 and entries[0].target == "resource_id=i-0abc123def456789a"
    ingest(sample, INPUTS / "aws_2025-12.csv", "aws")
    dec = rv.list_queue(sample, "2025-12", rv.Selection(status="all"), limit=100).items
    hit = [i for i in dec if i.resource_id == "i-0abc123def456789a"]
    assert [(i.project_id, i.fund_org, i.pi_email) for i in hit] == [
        ("genomics-2", "BIO-2025-777", "zorp.blinkman@example.edu")
    ]
    others = [i for i in dec if i.resource_id == "i-0abc123def456789b"]
    assert [i.project_id for i in others] == ["genomics-sequencing"]
    with sample.engine.connect() as conn:
        rule_ids = dict(
            conn.execute(
                text(
                    "SELECT c.resource_id, c.attribution_rule_id FROM charges c JOIN periods p "
                    "ON p.id = c.period_id WHERE p.name = '2025-12'"
                )
            ).all()
        )
    assert rule_ids["i-0abc123def456789a"] == r.rule_id
    assert rule_ids["i-0abc123def456789b"] is None


def test_saved_rule_by_tag_fixes_missing_attribution_at_the_next_import(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    ingest(ctx, write_csv(tmp_path / "jan.csv", [row(cost="4", tags={**NO_PROJECT, "team": "astro"})]), "aws")
    rv.correct(ctx, P, rv.Selection(), project_id="astro-survey", tag=("Team", "astro"), save_rule=True)
    result = ingest(
        ctx,
        write_csv(
            tmp_path / "feb.csv",
            [
                row("2025-02", cost="8", tags={**NO_PROJECT, "TEAM": "astro"}),
                row("2025-02", cost="9", tags={**NO_PROJECT, "team": "other"}),
            ],
        ),
        "azure",
    )
    assert result.flagged == 1
    feb = by_cost(ctx, "2025-02")
    assert (feb[Decimal(8)].project_id, feb[Decimal(8)].flags) == ("astro-survey", ())
    assert (feb[Decimal(9)].project_id, feb[Decimal(9)].flags) == (None, ("missing_project",))


def test_save_rule_needs_one_resource_and_then_saves_nothing(mixed):
    snapshot = state(mixed)
    with pytest.raises(InvalidInput, match="one resource"):
        rv.correct(mixed, P, rv.Selection(reason="missing_project"), project_id="x", save_rule=True)
    assert state(mixed) == snapshot
    with mixed.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attribution_rules")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM charge_actions")).scalar_one() == 0


# -- closed periods and the close gate ----------------------------------------------------------


def test_close_is_refused_while_charges_are_pending(sample):
    with pytest.raises(Conflict) as exc:
        change_status(sample, P, "close")
    assert "5 charge(s) pending review" in exc.value.message
    assert "9987.50" in exc.value.message
    assert "review list -p 2025-01" in exc.value.message
    assert get_period(sample, P).status == "open"
    rv.approve(sample, P, rv.Selection(ids=ids(rv.list_queue(sample, P).items[:4])))
    with pytest.raises(Conflict, match=r"1 charge\(s\) pending review \(1062.50"):
        change_status(sample, P, "close")
    rv.reject(sample, P, rv.Selection(), "not billable")
    assert change_status(sample, P, "close").status == "closed"


def test_force_close_needs_a_reason_which_is_recorded(sample):
    with pytest.raises(InvalidInput, match="reason"):
        change_status(sample, P, "close", force=True)
    with pytest.raises(InvalidInput, match="reason"):
        change_status(sample, P, "close", "  ", force=True)
    assert get_period(sample, P).status == "open"
    info = change_status(sample, P, "close", "auditors need it today", force=True)
    assert info.status == "closed"
    last = info.history[-1]
    assert (last.from_status, last.to_status, last.actor) == ("open", "closed", "alice")
    assert "5 charge(s) pending review" in last.reason and "auditors need it today" in last.reason
    assert get_period(sample, P).history[-1].reason == last.reason
    [entry] = audit.list_entries(sample, action="period.close").entries
    assert entry.target == P and "auditors need it today" in entry.detail


def test_actions_are_refused_in_a_closed_period(sample, tmp_path):
    item = rv.list_queue(sample, P).items[0]
    rv.approve(sample, P, rv.Selection(ids=(item.id,)))
    change_status(sample, P, "close", "month end", force=True)
    snapshot = state(sample)
    for act in (
        lambda: rv.approve(sample, P, rv.Selection()),
        lambda: rv.reject(sample, P, rv.Selection(ids=(item.id,)), "late"),
        lambda: rv.correct(sample, P, rv.Selection(ids=(item.id,)), project_id="x"),
        lambda: rv.recheck(sample, P),
    ):
        with pytest.raises(Conflict, match="closed"):
            act()
    assert state(sample) == snapshot
    # the queue can still be read
    assert rv.list_queue(sample, P).count == 4
    # reopened: decisions can change again
    change_status(sample, P, "reopen", "one more fix")
    rv.reject(sample, P, rv.Selection(ids=(item.id,)), "late")
    assert state(sample)[item.id][0] == "rejected"


# -- rejected money is left out of every sum ----------------------------------------------------


def _sums(ctx) -> dict:
    t = period_totals(ctx, P).totals
    by = {g: dict(period_totals(ctx, P, by=g).groups) for g in ("source", "pi", "project", "fund", "service")}
    d = insights.dashboard(ctx, P)
    over = {o.name: o.totals for o in insights.periods_overview(ctx)}
    _, top = insights.period_top(ctx, P, by="project")
    _, ents = insights.entities(ctx, "project", P)
    ent = insights.entity(ctx, "project", "exoplanet-survey", P)
    return {
        "report": (t.rows, t.billed_cost, t.effective_cost, t.list_cost, t.contracted_cost),
        "report by source": by["source"]["aws"].billed_cost,
        "report by pi": by["pi"]["plex.wombsworth@example.edu"].billed_cost,
        "report by project": by["project"]["exoplanet-survey"].billed_cost,
        "report by fund": by["fund"]["NASA-EXOP-2024"].billed_cost,
        "report by service": by["service"]["Amazon S3"].billed_cost,
        "dashboard": (d.totals.rows, d.totals.billed, d.totals.list),
        "dashboard by source": {n: c.billed for n, _, c in d.by_source},
        "dashboard top pis": dict((k, c.billed) for k, _name, c in d.top_pis)["plex.wombsworth@example.edu"],
        "dashboard top projects": dict((k, c.billed) for k, c in d.top_projects)["exoplanet-survey"],
        "dashboard trend": {s.key: s.values for s in d.trend.series}["aws"][-1],
        "periods overview": over[P].billed,
        "period top": dict((k, c.billed) for k, c in top)["exoplanet-survey"],
        "entities": next(e.period.billed for e in ents if e.key == "exoplanet-survey"),
        "entity": (ent.totals.billed, dict(ent.by_service)["Amazon S3"].billed),
    }


def test_rejected_money_is_left_out_of_every_total(sample):
    ingest(sample, INPUTS / "azure_2025-01.csv", "azure")
    full = _sums(sample)
    big = rv.list_queue(sample, P).items[0]
    assert (big.billed_cost, big.project_id) == (Decimal(2975), "exoplanet-survey")
    rv.reject(sample, P, rv.Selection(ids=(big.id,)), "double-billed by the provider")
    less = _sums(sample)
    d = Decimal(2975)
    rows, billed, eff, lst, contracted = full["report"]
    assert less["report"] == (rows - 1, billed - d, eff - d, lst - Decimal(3500), contracted - d)
    expected = {
        "report by source": full["report by source"] - d,
        "report by pi": full["report by pi"] - d,
        "report by project": full["report by project"] - d,
        "report by fund": full["report by fund"] - d,
        "report by service": full["report by service"] - d,
        "dashboard": (full["dashboard"][0] - 1, full["dashboard"][1] - d, full["dashboard"][2] - 3500),
        "dashboard by source": {**full["dashboard by source"], "aws": full["dashboard by source"]["aws"] - d},
        "dashboard top pis": full["dashboard top pis"] - d,
        "dashboard top projects": full["dashboard top projects"] - d,
        "dashboard trend": full["dashboard trend"] - d,
        "periods overview": full["periods overview"] - d,
        "period top": full["period top"] - d,
        "entities": full["entities"] - d,
        "entity": (full["entity"][0] - d, full["entity"][1] - d),
    }
    assert {k: v for k, v in less.items() if k != "report"} == expected
    # approving reverses it everywhere
    rv.approve(sample, P, rv.Selection(ids=(big.id,)))
    assert _sums(sample) == full


def test_browse_totals_leave_out_rejected_money(sample):
    before = charges.page(sample, charges.Query(period=P)).totals
    big = rv.list_queue(sample, P).items[0]
    rv.reject(sample, P, rv.Selection(ids=(big.id,)), "double-billed")
    after = charges.page(sample, charges.Query(period=P)).totals
    assert after.billed == before.billed - big.billed_cost


def test_statements_bill_approved_money_only(db_url, make_ctx, tmp_path):
    from openchargeback.services.statements import generation as statements

    ctx = make_ctx(db_url, review={"max_charge": 1000}, statements={"output_dir": str(tmp_path / "st")})
    ingest(ctx, INPUTS / "aws_2025-01.csv", "aws")
    first = statements.generate(ctx, P, dry_run=True)
    assert dict(first.approved_totals) == {"USD": Decimal("19086.75") - Decimal("9987.50")}
    assert (first.pending.count, dict(first.pending.amounts)) == (5, {"USD": Decimal("9987.50")})
    big = rv.list_queue(ctx, P).items[0]
    rv.reject(ctx, P, rv.Selection(ids=(big.id,)), "double-billed")
    rv.approve(ctx, P, rv.Selection())
    after = statements.generate(ctx, P, dry_run=True)
    assert dict(after.approved_totals) == {"USD": Decimal("19086.75") - 2975}
    assert after.pending.count == 0
    assert (after.rejected.count, dict(after.rejected.amounts)) == (1, {"USD": Decimal(2975)})
    assert sum(s.due_total for s in after.statements) == Decimal("19086.75") - 2975


def test_pending_money_still_counts_until_decided_and_approved_never_changes_totals(sample):
    full = period_totals(sample, P).totals
    rv.approve(sample, P, rv.Selection())
    assert period_totals(sample, P).totals == full
    assert insights.dashboard(sample, P).pending.rows == 0


# -- rules: set, preview, recheck ---------------------------------------------------------------


def test_rules_start_from_the_configuration_and_set_is_audited(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, actor="admin", review={"max_charge": "1000", "fund_org_patterns": ["X-\\d+"]})
    assert rv.current_rules(ctx).max_charge == Decimal(1000)
    new = rv.set_rules(
        ctx,
        {
            "max_charge": "250",
            "flag_patterns": [{"name": "gpu", "field": "service", "pattern": "gpu", "reason": "GPU"}],
        },
    )
    assert rv.current_rules(ctx) == new
    assert rv.current_rules(ctx).fund_org_patterns == ()
    rv.set_rules(ctx, {"max_charge": "300"})
    assert rv.current_rules(ctx).max_charge == Decimal(300)
    entries = audit.list_entries(ctx, action="review.rules").entries
    assert len(entries) == 2 and all(e.actor == "admin" for e in entries)
    assert '"max_charge": "1000.00"' in entries[-1].detail and '"250.00"' in entries[-1].detail
    with pytest.raises(InvalidInput):
        rv.set_rules(ctx, {"max_charge": "-1"})
    assert rv.current_rules(ctx).max_charge == Decimal(300)
    # a fresh context on the same database reads the saved rules, not the configuration,
    # and so does the next import
    again = make_ctx(db_url, review={"max_charge": "5000"})
    assert rv.current_rules(again).max_charge == Decimal(300)
    ingest(again, write_csv(tmp_path / "a.csv", [row(cost="400"), row(cost="200")]), "aws")
    queue = rv.list_queue(again, P).items
    assert [(i.billed_cost, i.flags) for i in queue] == [(Decimal(400), ("over_max",))]


def test_preview_saves_nothing(sample):
    snapshot, rules = state(sample), rv.current_rules(sample)
    p = rv.preview_rules(
        sample,
        P,
        {
            "max_charge": "2000",
            "flag_patterns": [
                {"name": "s3", "field": "service", "pattern": "^Amazon S3$", "reason": "object storage"}
            ],
        },
    )
    assert (p.charges, p.flagged) == (25, 10)  # 3 charges above 2000, 8 S3 charges (one both)
    assert p.newly_flagged == 6 and p.cleared == 1  # 6 small S3 charges; 1062.50 is under 2000
    assert dict((c, n) for c, _, n in p.by_reason) == {"over_max": 3, "pattern:s3": 8}
    assert ("pattern:s3", "object storage", 8) in [tuple(r) for r in p.by_reason]
    # every changed charge: those plus 2975 (over_max -> over_max,pattern:s3) and 1870 (-> pattern:s3)
    assert len(p.examples) == 6 + 1 + 2
    assert {(b, a) for _, b, a in p.examples} == {
        (None, "pattern:s3"),
        ("over_max", None),
        ("over_max", "over_max,pattern:s3"),
        ("over_max", "pattern:s3"),
    }
    assert state(sample) == snapshot and rv.current_rules(sample) == rules
    assert audit.list_entries(sample, action="review.rules").entries == ()
    with pytest.raises(InvalidInput):
        rv.preview_rules(sample, P, {"flag_patterns": [{"name": "x", "field": "nope", "pattern": "a"}]})


def test_recheck_changes_only_undecided_charges(sample):
    queue = rv.list_queue(sample, P).items  # 2975, 2040, 2040, 1870, 1062.50
    rv.approve(sample, P, rv.Selection(ids=(queue[0].id,)))
    rv.reject(sample, P, rv.Selection(ids=(queue[1].id,)), "no")
    rv.set_rules(sample, {"max_charge": "2500"})
    result = rv.recheck(sample, P)
    assert result.count == 3  # 2040, 1870 and 1062.50 are no longer above the maximum
    after = state(sample)
    assert after[queue[0].id][:2] == ("approved", "over_max")  # decided: kept as it was
    assert after[queue[1].id][:2] == ("rejected", "over_max")
    assert rv.list_queue(sample, P).count == 0
    assert result.total == 0
    rv.set_rules(sample, {"max_charge": "800"})
    result = rv.recheck(sample, P)
    q = rv.list_queue(sample, P)
    # 2040, 1870, 1062.50, 935 and 807.50 x 2 (not the decided ones)
    assert result.count == 6 and q.count == 6 and result.total == q.total
    assert sorted(i.billed_cost for i in q.items) == [Decimal("807.50")] * 2 + [
        Decimal(935),
        Decimal("1062.50"),
        Decimal(1870),
        Decimal(2040),
    ]
    assert [e.action for e in audit.list_entries(sample, action="review.recheck").entries] == [
        "review.recheck"
    ] * 2
