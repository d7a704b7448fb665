"""Which percentage subsidy applies (issue 22, case 7): one rank per test, as
docs/integrations/rate-tables.md lists them: project, account, rate class, GPU type,
partition / QOS / tier, resource, service. The lower-ranked subsidy is listed first and
names every selector below the higher one's rank, so that neither the order nor a count
of selectors can make it win."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import UsageLine, price_lines
from openchargeback.domain.rates import build_rate_table

LINE = {
    "service": "hpc",
    "resource": "gpu",
    "partition": "gpu",
    "qos": "high",
    "gpu_type": "v100",
    "account": "physics",
    "project": "PHYS-3",
    "rate_class": "internal",
}
# (selector, rank): highest first, as documented
RANKED = [
    ("project", 7),
    ("account", 6),
    ("rate_class", 5),
    ("gpu_type", 4),
    ("partition", 3),
    ("qos", 3),
    ("resource", 2),
    ("service", 1),
]


def price(subsidies) -> D:
    t = build_rate_table(
        {
            "name": "t",
            "rates": [
                {
                    "service": "hpc",
                    "resource": "gpu",
                    "unit": "gpu-hour",
                    "price": D("1.00"),
                    "from": date(2025, 1, 1),
                }
            ],
            "subsidies": subsidies,
        }
    )
    attrs = {k: v for k, v in LINE.items() if k not in ("service", "resource", "rate_class")}
    line = UsageLine(Period(2026, 1), "hpc", "gpu", D(10), **attrs)
    (priced,) = price_lines(t, [line]).lines
    return priced.billed_cost


@pytest.mark.parametrize(
    "selector", ["project", "account", "rate_class", "gpu_type", "partition", "resource"]
)
def test_a_higher_rank_beats_every_lower_one_together(selector):
    rank = dict(RANKED)[selector]
    lower = {k: LINE[k] for k, r in RANKED if r < rank}
    subsidies = [
        {"name": "lower", "percent": D(20), **lower},
        {"name": "higher", "percent": D(50), selector: LINE[selector]},
    ]
    assert price(subsidies) == D("5.00")  # 50 % of 10.00: the higher rank, listed second
    assert price(list(reversed(subsidies))) == D("5.00")


def test_gpu_type_beats_partition_and_qos_as_documented():
    # the case: partition + QOS (20 %) listed first, GPU type v100 (50 %)
    subsidies = [
        {"name": "gpu-partition-high", "percent": D(20), "partition": "gpu", "qos": "high"},
        {"name": "v100", "percent": D(50), "gpu_type": "v100"},
    ]
    assert price(subsidies) == D("5.00")


def test_partition_qos_and_tier_are_one_rank_more_selectors_win_then_the_first_listed():
    one = {"name": "partition", "percent": D(20), "partition": "gpu"}
    two = {"name": "partition-qos", "percent": D(50), "partition": "gpu", "qos": "high"}
    assert price([one, two]) == D("5.00")  # same top rank: naming one more selector wins
    qos = {"name": "qos", "percent": D(50), "qos": "high"}
    assert price([one, qos]) == D("8.00")  # equals: the first listed
    assert price([qos, one]) == D("5.00")


def test_service_is_the_lowest_rank_and_no_selector_lower_still():
    service = {"name": "service", "percent": D(50), "service": "hpc"}
    everything = {"name": "all", "percent": D(20)}
    assert price([everything, service]) == D("5.00")
