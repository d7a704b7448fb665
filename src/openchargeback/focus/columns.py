"""The FOCUS columns we keep, their kinds, the rename map and version detection.

Names are the FOCUS 1.2 names; headers are matched case-insensitively.
"""

from __future__ import annotations

from enum import Enum


class Kind(Enum):
    DATETIME = "datetime"
    MONEY = "money"  # summed: exact at ledger scale
    DECIMAL = "decimal"  # quantities and unit prices: exact, any scale
    ENUM = "enum"
    STRING = "string"
    TAGS = "tags"


# Canonical column -> kind, in storage order.
COLUMNS: dict[str, Kind] = {
    "BillingPeriodStart": Kind.DATETIME,
    "BillingPeriodEnd": Kind.DATETIME,
    "ChargePeriodStart": Kind.DATETIME,
    "ChargePeriodEnd": Kind.DATETIME,
    "BilledCost": Kind.MONEY,
    "EffectiveCost": Kind.MONEY,
    "ListCost": Kind.MONEY,
    "ContractedCost": Kind.MONEY,
    "BillingCurrency": Kind.STRING,
    "ChargeCategory": Kind.ENUM,
    "ChargeClass": Kind.ENUM,
    "ChargeFrequency": Kind.ENUM,
    "ChargeDescription": Kind.STRING,
    "ServiceName": Kind.STRING,
    "ServiceCategory": Kind.STRING,
    "ServiceSubcategory": Kind.STRING,
    "ProviderName": Kind.STRING,
    "PublisherName": Kind.STRING,
    "ServiceProviderName": Kind.STRING,
    "InvoiceIssuerName": Kind.STRING,
    "InvoiceId": Kind.STRING,
    "BillingAccountId": Kind.STRING,
    "BillingAccountName": Kind.STRING,
    "SubAccountId": Kind.STRING,
    "SubAccountName": Kind.STRING,
    "ResourceId": Kind.STRING,
    "ResourceName": Kind.STRING,
    "ResourceType": Kind.STRING,
    "SkuId": Kind.STRING,
    "SkuPriceId": Kind.STRING,
    "SkuMeter": Kind.STRING,
    "PricingCategory": Kind.ENUM,
    "PricingQuantity": Kind.DECIMAL,
    "PricingUnit": Kind.STRING,
    "ConsumedQuantity": Kind.DECIMAL,
    "ConsumedUnit": Kind.STRING,
    "ListUnitPrice": Kind.DECIMAL,
    "ContractedUnitPrice": Kind.DECIMAL,
    "CommitmentDiscountId": Kind.STRING,
    "CommitmentDiscountName": Kind.STRING,
    "CommitmentDiscountStatus": Kind.ENUM,
    "CommitmentDiscountType": Kind.STRING,
    "CommitmentDiscountCategory": Kind.ENUM,
    "RegionId": Kind.STRING,
    "RegionName": Kind.STRING,
    "AvailabilityZone": Kind.STRING,
    "Tags": Kind.TAGS,
}

# Without these a file is not cost-and-usage data we can bill from.
REQUIRED = ("BillingPeriodStart", "BillingPeriodEnd", "BilledCost")

# Older and draft names (lower-cased) -> current name.
RENAMES: dict[str, str] = {
    "chargetype": "ChargeCategory",
    "amortizedcost": "EffectiveCost",
    "region": "RegionId",
    "usagequantity": "ConsumedQuantity",
    "usageunit": "ConsumedUnit",
    "provider": "ProviderName",
    "publisher": "PublisherName",
    "invoiceissuer": "InvoiceIssuerName",
    "billedcurrency": "BillingCurrency",
}

_CANONICAL_BY_LOWER = {name.lower(): name for name in COLUMNS}

# Enum values in canonical spelling, looked up lower-cased; old values renamed.
ENUMS: dict[str, dict[str, str]] = {
    "ChargeCategory": {v.lower(): v for v in ("Usage", "Purchase", "Tax", "Credit", "Adjustment")},
    "ChargeClass": {"correction": "Correction"},
    "ChargeFrequency": {v.lower(): v for v in ("One-Time", "Recurring", "Usage-Based")},
    "PricingCategory": {
        **{v.lower(): v for v in ("Standard", "Dynamic", "Committed", "Other")},
        "on-demand": "Standard",
        "commitment-based": "Committed",
    },
    "CommitmentDiscountStatus": {"used": "Used", "unused": "Unused"},
    "CommitmentDiscountCategory": {"spend": "Spend", "usage": "Usage"},
}

# Identifier columns where Azure writes placeholders for "none".
PLACEHOLDER_NULL_COLUMNS = frozenset(
    {
        "SubAccountId",
        "SubAccountName",
        "ResourceId",
        "ResourceName",
        "ResourceType",
        "RegionId",
        "RegionName",
        "AvailabilityZone",
        "CommitmentDiscountId",
    }
)
PLACEHOLDER_NULLS = frozenset({"-2", "Unassigned", "unassigned"})


def canonical_name(header: str) -> str | None:
    """The current FOCUS name for a header, or None for a column we do not model."""
    key = header.strip().lower()
    return _CANONICAL_BY_LOWER.get(key) or RENAMES.get(key)


def detect_version(headers: list[str]) -> str:
    """FOCUS version from the columns present (see FOCUS.md)."""
    h = {x.strip().lower() for x in headers}
    if "invoicedetailid" in h and "providername" not in h:
        return "1.4"
    if "serviceprovidername" in h:
        return "1.3"
    if h & {"invoiceid", "pricingcurrency"}:
        return "1.2"
    if h & {"skumeter", "servicesubcategory"}:
        return "1.1"
    if h & {"chargeclass", "contractedcost"}:
        return "1.0"
    if h & {"chargetype", "amortizedcost"}:
        return "0.5"
    return "1.0"


def other_dataset(headers: list[str]) -> str | None:
    """Name of a non cost-and-usage FOCUS dataset the headers belong to, if any."""
    h = {x.strip().lower() for x in headers}
    if "billedcost" in h and ("chargeperiodstart" in h or "billingperiodstart" in h):
        return None
    if h & {"contractcommitmentid", "contractid", "contractcommitmentcategory"}:
        return "Contract Commitment"
    if h & {"invoicedetailid", "invoiceid", "invoicelineid"}:
        return "Invoice Detail"
    return None


# Columns that describe what was charged and repeat across many rows: stored once per
# distinct combination (a "charge detail"), referenced by every charge that has it.
DETAIL_COLUMNS = (
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "BillingCurrency",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "ChargeDescription",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ProviderName",
    "PublisherName",
    "ServiceProviderName",
    "InvoiceIssuerName",
    "InvoiceId",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "ResourceType",
    "SkuId",
    "SkuPriceId",
    "SkuMeter",
    "PricingCategory",
    "PricingUnit",
    "ConsumedUnit",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountCategory",
    "RegionId",
    "RegionName",
    "AvailabilityZone",
)
# The longest text each descriptive column may hold: the ledger's column widths (a
# schema test keeps the two in step; PostgreSQL enforces them). ChargeDescription has none.
MAX_LENGTH: dict[str, int] = {
    "BillingCurrency": 16,
    **dict.fromkeys(
        (
            "ChargeCategory",
            "ChargeClass",
            "ChargeFrequency",
            "PricingCategory",
            "CommitmentDiscountStatus",
            "CommitmentDiscountCategory",
        ),
        64,
    ),
    **dict.fromkeys(
        (
            "ServiceCategory",
            "ServiceSubcategory",
            "PricingUnit",
            "ConsumedUnit",
            "CommitmentDiscountType",
            "RegionId",
            "RegionName",
            "AvailabilityZone",
        ),
        200,
    ),
    **dict.fromkeys(
        (
            "ServiceName",
            "ProviderName",
            "PublisherName",
            "ServiceProviderName",
            "InvoiceIssuerName",
            "InvoiceId",
            "BillingAccountId",
            "BillingAccountName",
            "SubAccountId",
            "SubAccountName",
            "ResourceType",
            "SkuId",
            "SkuPriceId",
            "SkuMeter",
            "CommitmentDiscountName",
        ),
        300,
    ),
    "CommitmentDiscountId": 500,
}
# Columns that vary per row.
ROW_STRING_COLUMNS = ("ResourceId", "ResourceName")
MONEY_COLUMNS = tuple(n for n, k in COLUMNS.items() if k is Kind.MONEY)
DECIMAL_COLUMNS = tuple(n for n, k in COLUMNS.items() if k is Kind.DECIMAL)

assert set(DETAIL_COLUMNS) | set(ROW_STRING_COLUMNS) | set(MONEY_COLUMNS) | set(DECIMAL_COLUMNS) | {
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "Tags",
} == set(COLUMNS)
