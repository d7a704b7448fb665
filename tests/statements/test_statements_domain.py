"""Statement content from grouped lines: the chain list -> discount/subsidy -> due,
fully subsidised lines, credits on their own lines, the detail limit, PI summaries,
and the rounding policy (totals are sums of rounded lines), with property tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from openchargeback.domain.money import round_minor
from openchargeback.domain.statements import (
    content_hash,
    pi_summaries,
    project_drafts,
    statement_number,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 2, 1, tzinfo=UTC)


def row(
    service="HPC Cluster",
    resource="node-1",
    list_="100",
    due="100",
    kind="usage",
    unit=None,
    quantity=None,
    pi="pi@example.edu",
    project="p1",
    fund="F-1",
    source="HPC",
    rows=1,
    currency="USD",
):
    return {
        "currency": currency,
        "pi_email": pi,
        "project_id": project,
        "fund_org": fund,
        "source": source.lower(),
        "source_name": source,
        "cost_basis": "billed",
        "service": service,
        "kind": kind,
        "unit": unit,
        "resource_id": resource,
        "resource_name": None,
        "rows": rows,
        "quantity": None if quantity is None else Decimal(quantity),
        "first_start": T0,
        "last_end": T1,
        "due": Decimal(due),
        "list": Decimal(list_),
        "share": None,
        "origin": "charges",
    }


def drafts(rows, limit):
    """Service lines summed from the detail rows, as the allocation would give them unsplit."""
    service: dict = {}
    for r in rows:
        k = (
            r["currency"],
            r["pi_email"],
            r["project_id"],
            r["fund_org"],
            r["source_name"],
            r["service"],
            r["kind"],
            r["unit"],
        )
        acc = service.get(k)
        if acc is None:
            service[k] = dict(r)
        else:
            acc["due"] += r["due"]
            acc["list"] += r["list"]
            acc["rows"] += r["rows"]
            acc["quantity"] = (
                None if acc["quantity"] is None or r["quantity"] is None else acc["quantity"] + r["quantity"]
            )
    return project_drafts(list(service.values()), rows, limit)


def test_chain_by_service_with_quantities_and_units():
    rows = [
        row(resource="n1", list_="800", due="0", unit="core-hours", quantity="6200"),
        row(resource="n2", list_="800", due="0", unit="core-hours", quantity="6200"),
        row(
            service="Storage",
            source="Storage",
            resource="vol",
            list_="10",
            due="7.5",
            unit="TB-months",
            quantity="3.2",
        ),
    ]
    (d,) = drafts(rows, 10)
    hpc, storage = d.data["lines"]
    assert (hpc["service"], hpc["quantity"], hpc["unit"]) == ("HPC Cluster", "12400", "core-hours")
    assert (hpc["list"], hpc["discount"], hpc["due"]) == ("1600.00", "1600.00", "0.00")
    assert hpc["fully_subsidised"] and hpc["discount_percent"] == "100.0"
    assert (storage["quantity"], storage["discount"], storage["discount_percent"]) == ("3.2", "2.50", "25.0")
    assert d.data["totals"] == {
        "list": "1610.00",
        "discount": "1602.50",
        "due": "7.50",
        "discount_percent": "99.5",
    }
    assert d.due_total == Decimal("7.5") and d.charge_count == 3


def test_credits_are_their_own_lines_without_a_discount():
    rows = [row(list_="100", due="80"), row(resource="n1", kind="credit", list_="0", due="-30")]
    (d,) = drafts(rows, 10)
    usage, credit = d.data["lines"]
    assert credit["credit"] and credit["kind_label"] == "credit"
    assert (credit["list"], credit["discount"], credit["due"]) == ("-30.00", "0.00", "-30.00")
    assert d.data["totals"]["due"] == "50.00" and d.data["credit_total"] == "-30.00"


def test_quantity_is_left_out_when_some_charges_lack_it():
    rows = [row(resource="a", unit="h", quantity="2"), row(resource="b", unit="h", quantity=None)]
    (d,) = drafts(rows, 10)
    assert d.data["lines"][0]["quantity"] is None


def test_detail_limit_shows_the_largest_lines_and_sums_the_rest():
    rows = [row(resource=f"r{i}", list_=str(i), due=str(i)) for i in range(1, 11)]
    (d,) = drafts(rows, 3)
    detail = d.data["detail"]
    assert [x["resource"] for x in detail["lines"]] == ["r10", "r9", "r8"]
    assert detail["hidden_count"] == 7 and detail["hidden_total"] == "28.00"
    assert detail["line_count"] == 10 and Decimal(detail["rounding"]) == 0
    assert d.detail_rows is not None and len(d.detail_rows) == 10
    (small,) = drafts(rows[:3], 3)
    assert small.detail_rows is None and small.data["detail"]["hidden_count"] == 0


def test_rounding_shows_in_the_detail_so_it_adds_up():
    rows = [row(resource=f"r{i}", list_="0.004", due="0.004") for i in range(3)]
    (d,) = drafts(rows, 10)
    assert d.data["totals"]["due"] == "0.01"  # one line 0.012 -> 0.01
    assert [x["due"] for x in d.data["detail"]["lines"]] == ["0.00"] * 3
    assert d.data["detail"]["rounding"] == "0.01"


def test_one_statement_per_pi_project_and_currency_and_summaries_add_up():
    rows = [
        row(project="a", due="10.004", list_="12"),
        row(project="b", due="5.004", list_="5"),
        row(pi="other@example.edu", project="c", due="1", list_="1"),
        row(project="a", currency="EUR", due="3", list_="3"),
    ]
    made = drafts(rows, 5)
    assert [(d.key.pi_email, d.key.project_id, d.key.currency) for d in made] == [
        ("other@example.edu", "c", "USD"),
        ("pi@example.edu", "a", "EUR"),
        ("pi@example.edu", "a", "USD"),
        ("pi@example.edu", "b", "USD"),
    ]
    sums = {(s.key.pi_email, s.key.currency): s for s in pi_summaries(made)}
    usd = sums[("pi@example.edu", "USD")]
    assert usd.due_total == Decimal("15.00") and usd.list_total == Decimal("17.00")
    assert [p["project_id"] for p in usd.data["projects"]] == ["a", "b"]
    assert usd.key.kind == "pi" and usd.key.project_id is None


def test_numbers_and_hashes():
    assert statement_number("RC", "2025-01", 7) == "RC-202501-0007"
    assert content_hash({"a": 1}, "t") == content_hash({"a": 1}, "t") != content_hash({"a": 1}, "u")


amounts = st.decimals(
    min_value=Decimal("-500"), max_value=Decimal("5000"), places=6, allow_nan=False, allow_infinity=False
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["HPC", "Cloud", "Storage"]), st.sampled_from(["p1", "p2"]), amounts, amounts
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=0, max_value=6),
)
def test_documents_add_up_and_stay_within_rounding_of_the_charges(items, limit):
    rows = [
        row(
            service=s,
            project=p,
            resource=f"r{i}",
            due=str(due),
            list_=str(abs(lst) + max(due, 0)),
            kind="credit" if due < 0 else "usage",
        )
        for i, (s, p, due, lst) in enumerate(items)
    ]
    made = drafts(rows, limit)
    for d in made:
        lines = d.data["lines"]
        assert d.due_total == sum(Decimal(x["due"]) for x in lines)
        assert d.list_total == sum(Decimal(x["list"]) for x in lines)
        assert d.discount_total == d.list_total - d.due_total
        for x in lines:
            assert Decimal(x["list"]) - Decimal(x["discount"]) == Decimal(x["due"])
        exact = sum(r["due"] for r in rows if r["project_id"] == d.key.project_id)
        assert abs(d.due_total - exact) <= Decimal("0.005") * len(lines)
        if len(lines) == 1:
            assert d.due_total == round_minor(exact)
        det = d.data["detail"]
        shown = sum(Decimal(x["due"]) for x in det["lines"])
        assert shown + Decimal(det["hidden_total"]) + Decimal(det["rounding"]) == d.due_total
        assert len(det["lines"]) == min(limit, det["line_count"])
    for s in pi_summaries(made):
        assert s.due_total == sum(d.due_total for d in made if d.key.pi_email == s.key.pi_email)
