"""Attribution and review flags for the rows of an ingest batch.

Work is done once per distinct combination (tags, x_ values, charge detail, period
mismatch) and indexed per row, so that a million rows cost a few thousand rule
evaluations; only amount rules and resource-level rules look at every row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date
from typing import Any

import numpy as np

from openchargeback.domain.attribution import FIELDS, TagMapping
from openchargeback.domain.money import from_picos, to_picos
from openchargeback.domain.registry import FUND_EXPIRED, RegistrySnapshot
from openchargeback.domain.review import ChargeFacts, Evaluator, join_flags
from openchargeback.focus.batch import Batch, Coded
from openchargeback.focus.columns import DETAIL_COLUMNS

_SERVICE = DETAIL_COLUMNS.index("ServiceName")
_SKU = DETAIL_COLUMNS.index("SkuId")
_DESCRIPTION = DETAIL_COLUMNS.index("ChargeDescription")
_PI, _PROJECT, _FUND = (FIELDS.index(f) for f in ("pi_email", "project_id", "fund_org"))


class AttributionRules:
    """Saved corrections: resource id or tag value -> PI / project / fund."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self.by_resource: dict[str, tuple] = {}
        self.by_tag: list[tuple[str, str, tuple]] = []
        for r in rows:
            target = (r.id, r.pi_email, r.project_id, r.fund_org)
            if r.match_field == "resource_id":
                self.by_resource.setdefault(r.match_value, target)
            elif r.match_field.startswith("tag:"):
                self.by_tag.append((r.match_field[4:].strip().lower(), r.match_value, target))

    def for_tags(self, tags: dict | None) -> tuple | None:
        if not self.by_tag or not tags:
            return None
        norm = {str(k).strip().lower(): str(v) for k, v in tags.items()}
        for key, value, target in self.by_tag:
            if norm.get(key) == value:
                return target
        return None


def apply_rule(attr: tuple, target: tuple | None) -> tuple:
    """Attribution with a rule's non-empty fields applied."""
    if target is None:
        return attr
    out = list(attr)
    for slot, value in ((_PI, target[1]), (_PROJECT, target[2]), (_FUND, target[3])):
        if value:
            out[slot] = value
    return tuple(out)


class RowFlagger:
    def __init__(
        self,
        mapping: TagMapping,
        evaluator: Evaluator,
        rules: AttributionRules,
        expected_period: str | None,
        registry: RegistrySnapshot | None = None,
    ):
        self.mapping = mapping
        self.evaluator = evaluator
        self.rules = rules
        self.expected = expected_period
        # The registry fills PI / fund from the project and flags unknown or expired
        # ones; only once a project is registered (see domain.registry).
        self.registry = registry if registry is not None and registry.active else None
        fields = {fp.field for fp in evaluator.rules.flag_patterns}
        self.per_resource = bool(rules.by_resource) or bool(fields & {"resource_id", "resource_name"})
        self.per_detail = bool(fields & {"service", "sku", "description"})
        self.flagged = 0

    def apply(self, batch: Batch) -> tuple[Coded, list[str | None], list[int | None]]:
        """Attribution per row (coded), flag strings and attribution rule ids per row."""
        combos, combo_index = self._combos(batch)
        d_index = batch.details.index if self.per_detail else np.zeros(batch.size, dtype=np.int64)
        if self.per_resource:
            keys = zip(
                combo_index.tolist(),
                d_index.tolist(),
                batch.strings["ResourceId"],
                batch.strings["ResourceName"],
                strict=True,
            )
            seen: dict[tuple, int] = {}
            index = np.fromiter(
                (seen.setdefault(k, len(seen)) for k in keys), dtype=np.int64, count=batch.size
            )
            distinct = list(seen)
        else:  # the common case, in numpy: one code per (combination, detail)
            width = int(d_index.max()) + 1 if batch.size else 1
            combined, index = np.unique(combo_index * width + d_index, return_inverse=True)
            distinct = [(c // width, c % width) for c in combined.tolist()]
        attrs: list[tuple] = []
        flags: list[list[str]] = []
        rule_ids: list[int | None] = []
        for key in distinct:
            tag_i, mismatch, xvals = combos[key[0]]
            tag = batch.tags.values[tag_i]
            tags = tag[1] if tag else None
            attr = self.mapping.resolve(tags, dict(zip(self.mapping.columns, xvals, strict=True)))
            target = self.rules.for_tags(tags)
            if self.per_resource and key[2] is not None:
                target = self.rules.by_resource.get(key[2]) or target
            attr = apply_rule(attr, target)
            registry_codes: list[str] = []
            if self.registry is not None:
                pi, fund, registry_codes = self.registry.attribute(attr[_PI], attr[_PROJECT], attr[_FUND])
                attr = _with_pi_fund(attr, pi, fund)
            detail = batch.details.values[key[1]] if self.per_detail else None
            facts = ChargeFacts(
                attr[_PI],
                attr[_PROJECT],
                attr[_FUND],
                service=detail[_SERVICE] if detail else None,
                sku=detail[_SKU] if detail else None,
                description=detail[_DESCRIPTION] if detail else None,
                resource_id=key[2] if self.per_resource else None,
                resource_name=key[3] if self.per_resource else None,
                tags=tags,
            )
            codes = self.evaluator.facts_flags(facts) + registry_codes
            if mismatch:
                codes.append("period_mismatch")
            attrs.append(attr)
            flags.append(codes)
            rule_ids.append(target[0] if target else None)
        if self.registry is not None:
            index, attrs, flags, rule_ids = self._expiry(self.registry, batch, index, attrs, flags, rule_ids)
        per_row = self._with_amounts(batch, Coded([join_flags(f) for f in flags], index), flags, index)
        self.flagged += sum(1 for f in per_row if f)
        return Coded(attrs, index), per_row, Coded(rule_ids, index).decode()

    def _expiry(self, registry: RegistrySnapshot, batch: Batch, index, attrs, flags, rule_ids):
        """Flag rows whose charge starts outside their fund's validity dates: compared per
        row with numpy, then each (combination, expired) pair becomes a combination."""
        bounds = [registry.validity(a[_FUND]) for a in attrs]
        if all(b is None for b in bounds):
            return index, attrs, flags, rule_ids
        lo = np.array([b[0].toordinal() if b and b[0] else 0 for b in bounds], dtype=np.int64)
        hi = np.array([b[1].toordinal() if b and b[1] else _NEVER for b in bounds], dtype=np.int64)
        starts = batch.charge_start
        days = np.array([d.astimezone(UTC).date().toordinal() for d in starts.values] + [0], dtype=np.int64)
        row_day = days[np.where(starts.index < 0, len(starts.values), starts.index)]
        known = starts.index >= 0
        out = known & ((row_day < lo[index]) | (row_day > hi[index]))
        if not out.any():
            return index, attrs, flags, rule_ids
        keys, index = np.unique(index * 2 + out, return_inverse=True)
        keys = keys.tolist()
        return (
            index.reshape(-1),
            [attrs[k // 2] for k in keys],
            [flags[k // 2] + [FUND_EXPIRED] if k % 2 else flags[k // 2] for k in keys],
            [rule_ids[k // 2] for k in keys],
        )

    def _combos(self, batch: Batch):
        """Distinct (tags, period mismatch, x_ values) and a per-row index into them."""
        periods = batch.periods()
        by_detail = np.array(
            [self.expected is not None and p != self.expected for p in periods.values], dtype=bool
        )
        mismatch = by_detail[periods.index]
        xcols = self.mapping.columns
        if xcols:
            seen: dict[tuple, int] = {}
            keys = zip(
                batch.tags.index.tolist(),
                mismatch.tolist(),
                zip(*(batch.kept.get(c, [None] * batch.size) for c in xcols), strict=True),
                strict=True,
            )
            index = np.array([seen.setdefault(k, len(seen)) for k in keys], dtype=np.int64)
            return list(seen), index
        codes, index = np.unique(batch.tags.index * 2 + mismatch, return_inverse=True)
        return [(c // 2, bool(c % 2), ()) for c in codes.tolist()], index

    def _with_amounts(self, batch: Batch, base: Coded, codes: list[list[str]], index) -> list[str | None]:
        per_row = base.decode()
        r = self.evaluator.rules
        if r.max_charge is None and r.large_credit is None:
            return per_row
        billed = np.array([v if v is not None else 0 for v in batch.money["BilledCost"]], dtype=np.int64)
        hit = np.zeros(batch.size, dtype=bool)
        if r.max_charge is not None:
            hit |= billed > to_picos(r.max_charge)
        if r.large_credit is not None:
            hit |= billed < -to_picos(r.large_credit)
        for row in np.nonzero(hit)[0].tolist():
            amount = self.evaluator.amount_flags(from_picos(int(billed[row])))
            per_row[row] = join_flags(codes[index[row]] + amount)
        return per_row


_NEVER = date.max.toordinal()


def _with_pi_fund(attr: tuple, pi: str | None, fund: str | None) -> tuple:
    if attr[_PI] == pi and attr[_FUND] == fund:
        return attr
    out = list(attr)
    out[_PI], out[_FUND] = pi, fund
    return tuple(out)
