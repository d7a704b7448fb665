"""Write FOCUS 1.2 cost-and-usage CSV (UTF-8, header, ``\\n`` line ends) with the csv
module, one row per priced line.

Each row carries ``ListCost`` (quantity x the rate class's price), ``BilledCost``
(after subsidies), ``ContractedCost = ListCost`` and ``EffectiveCost = BilledCost``,
the quantities and units, and the attribution in ``Tags``. ``x_`` columns say which
rate table, rate class and subsidies produced the row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Literal

from openchargeback.domain.attribution import FIELDS
from openchargeback.domain.money import to_str
from openchargeback.domain.pricing import PricedLine, UsageLine
from openchargeback.domain.rates import RateTable

COLUMNS = (
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ServiceName",
    "ServiceCategory",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "SubAccountId",
    "SubAccountName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "SkuId",
    "SkuPriceId",
    "SkuMeter",
    "PricingCategory",
    "PricingCurrency",
    "PricingQuantity",
    "PricingUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "ListCost",
    "ContractedCost",
    "EffectiveCost",
    "BilledCost",
    "Tags",
    "x_RateTable",
    "x_RateClass",
    "x_Subsidies",
    "x_SubsidyAmount",
)

# Rate-table units as FOCUS unit names (FOCUS 1.2 "Unit Format": plural, title case).
UNIT_NAMES = {
    "core-hour": "Core-Hours",
    "gpu-hour": "GPU-Hours",
    "gb-hour": "GB-Hours",
    "billing-hour": "Billing-Unit-Hours",
    "node-hour": "Node-Hours",
    "tb-month": "TB-Months",
    "tib-month": "TiB-Months",
    "gb-month": "GB-Months",
    "gib-month": "GiB-Months",
    "hour": "Hours",
    "day": "Days",
    "month": "Months",
    "each": "Units",
    "session": "Sessions",
}


def unit_name(unit: str) -> str:
    return UNIT_NAMES.get(unit, unit)


def focus_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity_text(d: Decimal) -> str:
    text = format(d.normalize(), "f") if d else "0"
    return text


@dataclass(frozen=True)
class LineInfo:
    """What a converter knows about a line beyond its price: carried in ``UsageLine.ref``."""

    sub_account: str | None
    resource_id: str | None = None
    resource_name: str | None = None
    resource_type: str | None = None
    description: str | None = None
    charge_start: datetime | None = None  # default: the billing period
    charge_end: datetime | None = None
    attribution: tuple[tuple[str, str], ...] = ()  # (field, value)
    tags: tuple[tuple[str, str], ...] = ()  # more tags (partition, path, ...)
    unmapped: str | None = None  # what the attribution map did not know
    extra: Mapping[str, str] = field(default_factory=dict)  # further FOCUS columns (csv mapping)


def tags_json(info: LineInfo, tag_keys: Mapping[str, str]) -> str | None:
    tags: dict[str, str] = {}
    for f, v in info.attribution:
        tags[tag_keys.get(f, f)] = v
    for k, v in info.tags:
        tags.setdefault(k, v)
    if info.unmapped:
        tags["ocb_unmapped"] = info.unmapped
    return json.dumps(tags, sort_keys=True, separators=(",", ":")) if tags else None


def line_info(line: UsageLine) -> LineInfo:
    """The :class:`LineInfo` a converter carries in ``line.ref``."""
    info = line.ref
    if not isinstance(info, LineInfo):
        raise TypeError(f"usage line without its LineInfo: ref is {info!r}")
    return info


def focus_row(p: PricedLine, table: RateTable, tag_keys: Mapping[str, str]) -> dict[str, str | None]:
    line, info = p.line, line_info(p.line)
    service_name, category = table.service_names(line.service)
    unit = unit_name(p.rate.unit)
    qty = quantity_text(line.quantity)
    price = quantity_text(p.unit_price)
    start, end = line.period.start, line.period.end
    row = {
        "BillingAccountId": table.billing_account,
        "BillingAccountName": table.provider,
        "BillingCurrency": table.currency,
        "BillingPeriodStart": focus_time(start),
        "BillingPeriodEnd": focus_time(end),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": info.description,
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": focus_time(info.charge_start or start),
        "ChargePeriodEnd": focus_time(info.charge_end or end),
        "ServiceName": service_name,
        "ServiceCategory": category,
        "ProviderName": table.provider,
        "PublisherName": table.provider,
        "InvoiceIssuerName": table.provider,
        "SubAccountId": info.sub_account,
        "SubAccountName": dict(info.attribution).get("project_id") or info.sub_account,
        "ResourceId": info.resource_id,
        "ResourceName": info.resource_name,
        "ResourceType": info.resource_type,
        "SkuId": f"{line.service}/{line.resource}",
        "SkuPriceId": f"{table.name}#{p.rate.line}/{p.rate_class}",
        "SkuMeter": line.resource if not line.gpu_type else f"{line.resource}:{line.gpu_type}",
        "PricingCategory": "Standard",
        "PricingCurrency": table.currency,
        "PricingQuantity": qty,
        "PricingUnit": unit,
        "ConsumedQuantity": qty,
        "ConsumedUnit": unit,
        "ListUnitPrice": price,
        "ContractedUnitPrice": price,
        "ListCost": to_str(p.list_cost),
        "ContractedCost": to_str(p.list_cost),
        "EffectiveCost": to_str(p.billed_cost),
        "BilledCost": to_str(p.billed_cost),
        "Tags": tags_json(info, tag_keys),
        "x_RateTable": table.name,
        "x_RateClass": p.rate_class,
        "x_Subsidies": ";".join(f"{g.subsidy}={to_str(g.amount)}" for g in p.grants) or None,
        "x_SubsidyAmount": to_str(p.subsidy),
    }
    for k, v in info.extra.items():
        if k in row and v is not None:
            row[k] = v
    return row


class FocusWriter:
    """Streams rows to a CSV file or text stream."""

    def __init__(self, out: str | Path | IO[str]):
        self._file: IO[str] | None = None
        stream: IO[str]
        if isinstance(out, str | Path):
            self._file = stream = open(out, "w", newline="", encoding="utf-8")  # noqa: SIM115
        else:
            stream = out
        self._w = csv.writer(stream, lineterminator="\n")
        self._w.writerow(COLUMNS)
        self.rows = 0

    def write(self, row: Mapping[str, str | None]) -> None:
        self._w.writerow(["" if row.get(c) is None else row[c] for c in COLUMNS])
        self.rows += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> FocusWriter:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False


def default_tag_keys() -> dict[str, str]:
    return {f: f for f in FIELDS}
