"""Generate a realistic N-row FOCUS 1.2 cost-and-usage CSV (all mandatory columns,
Tags JSON), streamed to disk. Shared by the benchmarks and the large-file tests."""

from __future__ import annotations

import csv
import json
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

HEADER = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
    "x_Discounts",
]

SERVICES = [
    ("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", "Hours", "i-"),
    ("Amazon Simple Storage Service", "Storage", "Object Storage", "GB-Mo", "bucket-"),
    ("Amazon Relational Database Service", "Databases", "Relational Databases", "Hours", "db-"),
    ("AWS Lambda", "Compute", "Serverless Compute", "Requests", "fn-"),
    ("Amazon CloudWatch", "Management and Governance", "Observability", "Metrics", "cw-"),
]


def generate(
    path: str | Path, rows: int, *, period: str = "2025-01", projects: int = 500, seed: int = 7
) -> Decimal:
    """Write ``rows`` rows for ``period``; return the exact sum of BilledCost."""
    rng = random.Random(seed)
    year, month = map(int, period.split("-"))
    start = f"{year:04d}-{month:02d}-01T00:00:00Z"
    ny, nm = (year + month // 12, month % 12 + 1)
    end = f"{ny:04d}-{nm:02d}-01T00:00:00Z"
    tags = []
    for p in range(projects):
        t = {
            "pi_email": f"pi{p % 180}@example.edu",
            "project_id": f"proj-{p:04d}",
            "fund_org": f"FUND-{p % 90:03d}",
            "environment": rng.choice(["prod", "dev"]),
        }
        if p % 50 == 0:
            del t["fund_org"]  # some rows to flag
        tags.append(json.dumps(t))
    total = Decimal(0)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(rows):
            svc, cat, sub, unit, prefix = SERVICES[i % len(SERVICES)]
            qty = Decimal(rng.randrange(1, 10_000_000)) / 1000
            unit_price = Decimal(rng.randrange(1, 500_000)) / 10_000_000
            list_cost = (qty * unit_price).quantize(Decimal("1e-10"))
            billed = (list_cost * Decimal("0.85")).quantize(Decimal("1e-10"))
            if i % 997 == 0:
                billed = -billed  # a credit
            total += billed
            day = 1 + i % 28
            cstart = f"{year:04d}-{month:02d}-{day:02d}T00:00:00Z"
            cend = f"{year:04d}-{month:02d}-{day:02d}T23:00:00Z" if day < 28 else end
            w.writerow(
                [
                    billed,
                    "123456789012",
                    "University Research",
                    "Payer",
                    "USD",
                    end,
                    start,
                    "Usage" if billed >= 0 else "Credit",
                    "",
                    f"{svc} usage",
                    "Usage-Based",
                    cend,
                    cstart,
                    "",
                    "",
                    "",
                    "",
                    qty,
                    unit,
                    billed,
                    unit_price,
                    billed,
                    f"INV-{year}{month:02d}",
                    "Amazon Web Services, Inc.",
                    list_cost,
                    unit_price,
                    "Standard",
                    "USD",
                    qty,
                    unit,
                    "AWS",
                    "Amazon Web Services, Inc.",
                    "us-east-1",
                    "US East (N. Virginia)",
                    f"{prefix}{i % 20000:08x}",
                    f"res-{i % 20000}",
                    svc.split()[-1],
                    cat,
                    svc,
                    sub,
                    f"SKU{i % 300}",
                    unit,
                    f"SKU{i % 300}.P",
                    f"{100000 + i % 40}",
                    f"research-{i % 40}",
                    "Linked",
                    tags[i % projects],
                    "" if i % 3 else "0.15",
                ]
            )
    return total


# A realistic export (issue 21): three providers in one file, per 300,000 rows about
# 6,000 resources, 1,200 projects, 300 PIs and 25 billing accounts; hourly charge
# periods; Usage, Purchase, Tax, Credit and Adjustment rows; costs with up to 10
# decimals; 3 % of rows with partial tags (no fund), 1 % with ``{}``.
_PROVIDERS = (
    # name, invoice issuer, share of resources, regions, services
    (
        "AWS",
        "Amazon Web Services, Inc.",
        0.6,
        [("us-east-1", "US East (N. Virginia)"), ("us-west-2", "US West (Oregon)"), ("eu-west-1", "Ireland")],
        SERVICES,
    ),
    (
        "Microsoft",
        "Microsoft",
        0.3,
        [("eastus", "East US"), ("westeurope", "West Europe")],
        [
            ("Virtual Machines", "Compute", "Virtual Machines", "1 Hour", "vm-"),
            ("Storage", "Storage", "Object Storage", "1 GB/Month", "st"),
            ("Azure Cosmos DB", "Databases", "NoSQL Databases", "100 RU/s", "cosmos-"),
            ("Azure Kubernetes Service", "Compute", "Containers", "1 Hour", "aks-"),
        ],
    ),
    (
        "Research Computing HPC",
        "University Research Computing",
        0.1,
        [("campus-dc1", "Campus Data Centre")],
        [
            ("HPC Cluster", "Compute", "High Performance Compute", "Core-Hours", "job-"),
            ("HPC GPU Partition", "Compute", "High Performance Compute", "GPU-Hours", "gpujob-"),
            ("Research Storage", "Storage", "File Storage", "TB-Mo", "vol-"),
        ],
    ),
)
_CATEGORIES = (("Usage", 0.92), ("Purchase", 0.02), ("Tax", 0.02), ("Credit", 0.02), ("Adjustment", 0.02))
_DEPARTMENTS = ("CHEM", "PHYS", "BIOL", "MATH", "ECON", "CS", "ASTRO", "GEOL", "MED", "ENGR")


class _Resource(NamedTuple):
    """What every row of one resource shares."""

    name: str
    issuer: str
    svc: str
    cat: str
    sub: str
    unit: str
    region: tuple[str, str]
    acct: tuple[str, str]
    rid: str
    rname: str
    tags: str
    partial: str
    sku: str
    price: int
    sub_id: str


def _decimal_text(units: int, places: int = 10) -> str:
    """``units`` * 10**-places as plain decimal text without trailing zeros."""
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(places + 1, "0")
    whole, frac = digits[:-places], digits[-places:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def generate_realistic(
    path: str | Path, rows: int, *, period: str = "2025-01", unmatched_funds: bool = False, seed: int = 21
) -> Decimal:
    """Write ``rows`` rows of a realistic export; return the exact sum of BilledCost.
    ``unmatched_funds``: fund codes like ``37453-892``, which match no ``fund_org_patterns``
    of the example configuration, so that every row is flagged."""
    rng = random.Random(seed)
    scale = max(rows / 300_000, 1 / 300)
    n_res, n_proj = max(int(6000 * scale), 20), max(int(1200 * scale), 5)
    n_pi, n_acct = max(int(300 * scale), 3), max(int(25 * scale), 3)
    year, month = map(int, period.split("-"))
    ny, nm = (year + month // 12, month % 12 + 1)
    start, end = f"{year:04d}-{month:02d}-01T00:00:00Z", f"{ny:04d}-{nm:02d}-01T00:00:00Z"
    hours = (date(ny, nm, 1) - date(year, month, 1)).days * 24
    stamps = [
        (datetime(year, month, 1) + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for h in range(hours + 1)
    ]
    projects = []
    for p in range(n_proj):
        fund = (
            f"{rng.randrange(10000, 99999)}-{rng.randrange(100, 999)}"
            if unmatched_funds
            else f"{_DEPARTMENTS[p % len(_DEPARTMENTS)]}-{rng.randrange(1000, 9999)}"
        )
        projects.append((f"pi{p % n_pi:04d}@university.edu", f"PRJ-{p:05d}", fund))
    accounts = [(f"{rng.randrange(10**11, 10**12)}", f"Research Account {a}") for a in range(n_acct)]
    resources = []
    for r in range(n_res):
        roll, acc = rng.random(), 0.0
        for prov in _PROVIDERS:
            acc += prov[2]
            if roll < acc:
                break
        name, issuer, _, regions, services = prov
        svc, cat, sub, unit, prefix = rng.choice(services)
        region = rng.choice(regions)
        acct = accounts[r % n_acct]
        pi, project, fund = projects[rng.randrange(n_proj)]
        rid = f"arn:{name.lower().split()[0]}:{region[0]}:{acct[0]}:{prefix}{r:07x}{rng.randrange(16**8):08x}"
        rname = f"{project.lower()}-{prefix.rstrip('-')}-{r}"
        tags = {
            "pi_email": pi,
            "project_id": project,
            "fund_org": fund,
            "environment": rng.choice(["prod", "dev"]),
        }
        if r % 2:
            tags["Name"] = rname
        partial = {k: v for k, v in tags.items() if k != "fund_org"}
        sku = f"{prefix.upper().rstrip('-')}{rng.randrange(40):03d}"
        price = rng.randrange(1, 5_000_000)  # 1e-7 units
        resources.append(
            _Resource(
                name,
                issuer,
                svc,
                cat,
                sub,
                unit,
                region,
                acct,
                rid,
                rname,
                json.dumps(tags),
                json.dumps(partial),
                sku,
                price,
                f"{100000 + r % (n_acct * 4)}",
            )
        )
    weights = [w for _, w in _CATEGORIES]
    units = 0  # the exact BilledCost total in 1e-10
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        cats = rng.choices([c for c, _ in _CATEGORIES], weights, k=rows)
        for i in range(rows):
            res = resources[rng.randrange(n_res)]
            category = cats[i]
            qty = rng.randrange(1, 100_000_000)  # 1e-3 units
            list_units = qty * res.price // 1000  # 1e-10 units
            billed = list_units * rng.randrange(80, 101) // 100
            freq, cstart, cend, desc = "Usage-Based", None, None, f"{res.svc} {res.sku} {res.unit}"
            if category == "Purchase":
                freq, cstart, cend, desc = "One-Time", start, end, f"{res.svc} reservation {res.sku}"
            elif category == "Tax":
                freq, cstart, cend, desc, billed = "Recurring", start, end, "Sales tax", list_units // 20
            elif category == "Credit":
                billed, desc = -billed, f"{res.svc} research credit"
            elif category == "Adjustment":
                billed, desc = rng.choice((-1, 1)) * billed // 3, f"{res.svc} billing adjustment"
            if cstart is None:
                h = rng.randrange(hours)
                cstart, cend = stamps[h], stamps[h + 1]
            units += billed
            roll = rng.random()
            tag_text = "{}" if roll < 0.01 else res.partial if roll < 0.04 else res.tags
            w.writerow(
                [
                    _decimal_text(billed),
                    res.acct[0],
                    res.acct[1],
                    "Payer",
                    "USD",
                    end,
                    start,
                    category,
                    "",
                    desc,
                    freq,
                    cend,
                    cstart,
                    "",
                    "",
                    "",
                    "",
                    _decimal_text(qty, 3),
                    res.unit,
                    _decimal_text(billed),
                    _decimal_text(res.price, 7),
                    _decimal_text(billed),
                    f"INV-{res.name[:3].upper()}-{year}{month:02d}",
                    res.issuer,
                    _decimal_text(list_units),
                    _decimal_text(res.price, 7),
                    "Standard",
                    "USD",
                    _decimal_text(qty, 3),
                    res.unit,
                    res.name,
                    res.issuer,
                    res.region[0],
                    res.region[1],
                    "" if category == "Tax" else res.rid,
                    "" if category == "Tax" else res.rname,
                    res.svc.split()[-1],
                    res.cat,
                    res.svc,
                    res.sub,
                    res.sku,
                    res.unit,
                    f"{res.sku}.P",
                    res.sub_id,
                    f"research-{res.sub_id}",
                    "Linked",
                    tag_text,
                    "" if i % 7 else "0.15",
                ]
            )
    return Decimal(units).scaleb(-10)
