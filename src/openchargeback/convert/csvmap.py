"""Any CSV to FOCUS through a mapping file (YAML), without writing code.

Sections of the mapping (all optional except a way to get a cost):

    csv:         {delimiter: ",", encoding: utf-8-sig}
    period:      {column: date, format: "%m/%d/%Y"}  # the billing month of each row;
                                                     # without it --period is required
    columns:     {FocusColumn: source column}        # copied as text
    constants:   {FocusColumn: value}
    expressions: {FocusColumn: "hours * rate"}       # Decimal arithmetic, see convert.expr;
                                                     # evaluated in order, later ones may use
                                                     # earlier FOCUS columns by name
    tags:        {tag key: source column}
    attribution: {column: lab, kind: account}        # look the column up in the attribution map
    pricing:                                          # price with the rate table instead
      service: instruments
      resource: confocal | {column: instrument_type}
      quantity: "hours"                              # an expression
      partition|qos|tier|gpu_type|account: {column: ...} or a constant

Without ``pricing``, ``BilledCost`` (or ``ListCost``) must come from ``columns``,
``constants`` or ``expressions``; ListCost defaults to BilledCost, ContractedCost to
ListCost and EffectiveCost to BilledCost.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from openchargeback.convert.attribution import SECTIONS, AttributionMap, Entry
from openchargeback.convert.expr import Expression
from openchargeback.convert.focus_writer import COLUMNS, LineInfo, focus_time, quantity_text, tags_json
from openchargeback.convert.usage import QUANTITY_PLACES, ConversionReport, Usage
from openchargeback.convert.yamlfile import load_yaml
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import money, to_str
from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import UsageLine

_SECTIONS = {"csv", "period", "columns", "constants", "expressions", "tags", "attribution", "pricing"}
_COSTS = ("ListCost", "ContractedCost", "EffectiveCost", "BilledCost")
_NUMERIC = {*_COSTS, "PricingQuantity", "ConsumedQuantity", "ListUnitPrice", "ContractedUnitPrice"}


def _ref(spec, where: str):
    """A constant, or {column: name} -> ("column", name) / ("const", value)."""
    if isinstance(spec, Mapping):
        if set(spec) != {"column"}:
            raise InvalidInput(f"{where}: expected a constant or {{column: name}}")
        return ("column", str(spec["column"]))
    return ("const", None if spec is None else str(spec))


class CsvMapping:
    def __init__(self, data, where: str):
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{where}: expected a mapping with columns, constants, expressions")
        unknown = set(data) - _SECTIONS
        if unknown:
            raise InvalidInput(
                f"{where}: unknown section(s) {', '.join(sorted(unknown))} "
                f"(sections: {', '.join(sorted(_SECTIONS))})"
            )
        self.where = where
        opts = data.get("csv") or {}
        self.delimiter = str(opts.get("delimiter", ","))
        self.encoding = str(opts.get("encoding", "utf-8-sig"))
        per = data.get("period") or {}
        self.period_column = per.get("column")
        self.period_format = per.get("format")
        self.columns = {str(k): str(v) for k, v in (data.get("columns") or {}).items()}
        self.constants = {
            str(k): (None if v is None else str(v)) for k, v in (data.get("constants") or {}).items()
        }
        self.expressions = {
            str(k): Expression(v, f"{where}: expressions.{k}")
            for k, v in (data.get("expressions") or {}).items()
        }
        self.tags = {str(k): str(v) for k, v in (data.get("tags") or {}).items()}
        attr = data.get("attribution")
        self.attr_column: str | None = None
        self.attr_kind: str | None = None
        if attr:
            self.attr_column, self.attr_kind = str(attr.get("column")), str(attr.get("kind", "account"))
            if self.attr_kind not in SECTIONS:
                raise InvalidInput(
                    f"{where}: attribution.kind {self.attr_kind!r} is not one of {', '.join(SECTIONS)}"
                )
        self.pricing = None
        if data.get("pricing"):
            pr = data["pricing"]
            missing = [k for k in ("service", "resource", "quantity") if k not in pr]
            if missing:
                raise InvalidInput(f"{where}: pricing needs {', '.join(missing)}")
            self.pricing = {
                "service": str(pr["service"]),
                "resource": _ref(pr["resource"], f"{where}: pricing.resource"),
                "quantity": Expression(pr["quantity"], f"{where}: pricing.quantity"),
                **{
                    k: _ref(pr[k], f"{where}: pricing.{k}")
                    for k in ("partition", "qos", "tier", "gpu_type", "account")
                    if k in pr
                },
            }
        targets = [*self.columns, *self.constants, *self.expressions]
        bad = sorted({t for t in targets if t not in COLUMNS})
        if bad:
            raise InvalidInput(
                f"{where}: {', '.join(bad)} not FOCUS columns this converter writes ({', '.join(COLUMNS)})"
            )
        if self.pricing is None and not ({"BilledCost", "ListCost"} & set(targets)):
            raise InvalidInput(
                f"{where}: give BilledCost (or ListCost) under columns, constants or "
                f"expressions, or a pricing section to use the rate table"
            )

    def check_header(self, header: list[str], source: str) -> None:
        have = set(header)
        wanted = set(self.columns.values()) | set(self.tags.values())
        wanted |= {c for c in (self.period_column, self.attr_column) if c}
        earlier: set[str] = set()
        for name, e in self.expressions.items():  # names: source columns or earlier results
            wanted |= e.names - earlier
            earlier.add(name)
        if self.pricing:
            wanted |= self.pricing["quantity"].names
            wanted |= {v[1] for v in self.pricing.values() if isinstance(v, tuple) and v[0] == "column"}
        missing = sorted(wanted - have)
        if missing:
            raise InvalidInput(
                f"{source}: column(s) {', '.join(missing)} named in the mapping "
                f"{self.where} are not in the file (it has: {', '.join(header)})"
            )

    def row_period(self, row: dict, given: Period | None) -> Period:
        if not self.period_column:
            if given is None:
                raise InvalidInput(f"{self.where}: no period column; give --period YYYY-MM")
            return given
        text = (row.get(self.period_column) or "").strip()
        try:
            dt = (
                datetime.strptime(text, self.period_format)
                if self.period_format
                else datetime.fromisoformat(text)
            )
        except ValueError:
            raise ValueError(
                f"column {self.period_column}: {text!r} is not a date"
                + (f" in the form {self.period_format}" if self.period_format else "")
            ) from None
        return Period(dt.year, dt.month)


def load_mapping(path: str | Path) -> CsvMapping:
    return CsvMapping(load_yaml(path, "CSV mapping") or {}, str(path))


def _value(ref, row) -> str | None:
    if ref is None:
        return None
    kind, v = ref
    return (row.get(v) or None) if kind == "column" else v


def convert_csv(
    path: str | Path,
    mapping: CsvMapping,
    *,
    amap: AttributionMap,
    period: Period | None = None,
    currency: str = "USD",
    skip_invalid: bool = False,
    tag_keys: Mapping[str, str] | None = None,
) -> Usage:
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"CSV file {p}: no such file")
    report = ConversionReport("csv", p.name)
    lines: list[UsageLine] = []
    rows: list[dict] = []
    with open(p, newline="", encoding=mapping.encoding) as f:
        reader = csv.DictReader(f, delimiter=mapping.delimiter)
        mapping.check_header(list(reader.fieldnames or []), p.name)
        for row in reader:
            report.records += 1
            where = f"{p.name}:{reader.line_num}"
            try:
                per = mapping.row_period(row, period)
                if period is not None and per != period:
                    report.skip("row outside the period")
                    continue
                out = _mapped(mapping, row, per, currency)
                info = _info(mapping, row, out, amap)
                if mapping.pricing:
                    lines.append(_usage_line(mapping, row, per, info))
                else:
                    out["Tags"] = tags_json(info, tag_keys or {})
                    rows.append(out)
            except (ValueError, ArithmeticError) as exc:
                report.problems.append(f"{where}: {exc}")
                continue
            report.used += 1
            if info.unmapped:
                report.unmapped[info.unmapped] = report.unmapped.get(info.unmapped, 0) + 1
    report.refuse_if_problems(skip_invalid)
    lines.sort(key=lambda u: (u.period, u.project or "", u.account or "", u.resource))
    return Usage(lines, report, inputs=(str(p),), rows=rows)


def _mapped(m: CsvMapping, row: dict, per: Period, currency: str) -> dict:
    out: dict[str, str | None] = {
        "BillingPeriodStart": focus_time(per.start),
        "BillingPeriodEnd": focus_time(per.end),
        "ChargePeriodStart": focus_time(per.start),
        "ChargePeriodEnd": focus_time(per.end),
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "BillingCurrency": currency,
    }
    out.update(m.constants)
    for focus, source in m.columns.items():
        out[focus] = row.get(source) or None
    env: dict[str, object] = dict(row)
    for focus, expr in m.expressions.items():
        value = expr.evaluate(env)
        env[focus] = value
        out[focus] = to_str(money(value)) if focus in _COSTS else quantity_text(value)
    if m.pricing is None:
        billed = out.get("BilledCost") or out.get("ListCost")
        if billed is None:
            raise ValueError("no BilledCost: the cost cells of this row are empty")
        out["BilledCost"] = billed
        out.setdefault("ListCost", billed)
        out["ListCost"] = out["ListCost"] or billed
        out["ContractedCost"] = out.get("ContractedCost") or out["ListCost"]
        out["EffectiveCost"] = out.get("EffectiveCost") or billed
        for c in _NUMERIC:
            if out.get(c) is not None:
                try:
                    Decimal(str(out[c]))
                except ArithmeticError:
                    raise ValueError(f"{c}: {out[c]!r} is not a number") from None
    return out


def _info(m: CsvMapping, row: dict, out: dict, amap: AttributionMap) -> LineInfo:
    tags = tuple((k, row[c].strip()) for k, c in m.tags.items() if row.get(c) and row[c].strip())
    attribution: Entry = ()
    unmapped: str | None = None
    if m.attr_column and m.attr_kind:  # set together
        r = amap.resolve((m.attr_kind, (row.get(m.attr_column) or "").strip() or None))
        attribution, unmapped = r.entry, r.missing
    extra = {k: v for k, v in out.items() if v is not None}
    sub_account = out.get("SubAccountId") or (row.get(m.attr_column) if m.attr_column else None)
    return LineInfo(
        sub_account=sub_account,
        resource_id=out.get("ResourceId"),
        resource_name=out.get("ResourceName"),
        resource_type=out.get("ResourceType"),
        description=out.get("ChargeDescription"),
        attribution=attribution,
        tags=tags,
        unmapped=unmapped,
        extra=extra,
    )


def _usage_line(m: CsvMapping, row: dict, per: Period, info: LineInfo) -> UsageLine:
    pr = m.pricing
    if pr is None:  # called only for a mapping with a pricing section
        raise ValueError("the mapping has no pricing section")
    resource = _value(pr["resource"], row)
    if not resource:
        raise ValueError("no resource for pricing")
    q = pr["quantity"].evaluate(row).quantize(QUANTITY_PLACES)
    extra = {
        k: v
        for k, v in info.extra.items()
        if k
        not in (
            *_COSTS,
            "PricingQuantity",
            "ConsumedQuantity",
            "ListUnitPrice",
            "ContractedUnitPrice",
            "PricingUnit",
            "ConsumedUnit",
            "BillingPeriodStart",
            "BillingPeriodEnd",
            "ChargeCategory",
            "ChargeFrequency",
            "BillingCurrency",
        )
    }
    info = replace(info, extra=extra)
    project = dict(info.attribution).get("project_id") or next(
        (v for k, v in info.tags if k == "project_id"), None
    )
    return UsageLine(
        per,
        pr["service"],
        resource,
        q,
        partition=_value(pr.get("partition"), row),
        qos=_value(pr.get("qos"), row),
        tier=_value(pr.get("tier"), row),
        gpu_type=_value(pr.get("gpu_type"), row),
        account=_value(pr.get("account"), row) or info.sub_account,
        project=project,
        ref=info,
    )
