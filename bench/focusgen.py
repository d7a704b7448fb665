"""Generate a realistic N-row FOCUS 1.2 cost-and-usage CSV (all mandatory columns,
Tags JSON), streamed to disk. Shared by the benchmarks and the large-file tests."""

from __future__ import annotations

import csv
import json
import random
from decimal import Decimal
from pathlib import Path

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
