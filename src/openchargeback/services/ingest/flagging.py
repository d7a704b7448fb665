"""Attribution and review flags for the rows of an ingest batch.

Every rule runs once per distinct value it looks at (a tag set with its x_ values, a
charge detail, a resource only when rules look at resources), remembered across the
batches of a file; the per-row parts (amounts, period mismatch, fund validity dates)
are numpy comparisons, and rows get their flags by index, never by a Python loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date
from functools import lru_cache
from typing import Any

import numpy as np

from openchargeback.domain.attribution import FIELDS, TagMapping
from openchargeback.domain.money import to_picos
from openchargeback.domain.registry import FUND_EXPIRED, RegistrySnapshot
from openchargeback.domain.review import ChargeFacts, Evaluator, join_flags
from openchargeback.focus.batch import Batch, Coded, Index
from openchargeback.focus.columns import DETAIL_COLUMNS
from openchargeback.focus.values import parse_tags

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


_DETAIL_FIELDS = frozenset({"service", "sku", "description"})
_RESOURCE_FIELDS = frozenset({"resource_id", "resource_name"})
_OTHER_FIELDS = frozenset({"tags", *_RESOURCE_FIELDS})
_CACHE_LIMIT = 50_000  # distinct values remembered across batches (memory stays bounded)
# bits of a row's amount flags
_OVER_MAX, _LARGE_CREDIT = 1, 2


class RowFlagger:
    """Attribution and flags of each row, coded: every rule runs once per distinct value
    (tag set and x_ values, charge detail, resource when rules look at it), remembered
    across batches; rows only index into the results with numpy."""

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
        self.per_resource = bool(rules.by_resource) or bool(fields & _RESOURCE_FIELDS)
        self.per_detail = bool(fields & _DETAIL_FIELDS)
        self.flagged = 0
        # (tag text, x_ values, resource id, resource name) -> (attribution, rule id, codes)
        self._attributed: dict[tuple, tuple[tuple, int | None, list[str]]] = {}
        self._detail_codes: dict[tuple, tuple[str, ...]] = {}
        self._three: dict[tuple, list[str]] = {}

    def forget(self) -> None:
        """Drop the results remembered across batches (the file is read)."""
        for cache in (self._attributed, self._detail_codes, self._three):
            cache.clear()

    def apply(self, batch: Batch) -> Coded:
        """Per row, coded: (attribution, flags text or None, attribution rule id)."""
        groups, g_index = self._groups(batch)
        attributed = [self._attribute(key) for key in groups]
        d_codes, d_index = self._details(batch)
        start_day = self._expired(batch, attributed, g_index)
        amounts = self._amounts(batch)
        mismatch = self._mismatch(batch)
        width = len(d_codes)
        key = ((g_index * width + d_index) * 4 + amounts) * 4 + mismatch * 2 + start_day
        keys, index = np.unique(key, return_inverse=True)
        values: list[tuple[tuple, str | None, int | None]] = []
        for k in keys.tolist():
            k, expired = divmod(k, 2)
            k, mismatched = divmod(k, 2)
            k, amount = divmod(k, 4)
            g, d = divmod(k, width)
            attr, rule_id, codes = attributed[g]
            codes = codes + list(d_codes[d])
            if mismatched:
                codes.append("period_mismatch")
            if expired:
                codes.append(FUND_EXPIRED)
            if amount & _OVER_MAX:
                codes.append("over_max")
            if amount & _LARGE_CREDIT:
                codes.append("large_credit")
            values.append((attr, _joined(tuple(codes)), rule_id))
        index = index.reshape(-1)
        flagged = np.array([v[1] is not None for v in values], dtype=bool)
        self.flagged += int(flagged[index].sum()) if batch.size else 0
        return Coded(values, index)

    def _groups(self, batch: Batch) -> tuple[list[tuple], Index]:
        """Distinct (tag text, x_ values, resource id, resource name), and a per-row index;
        resources only when rules look at them."""
        xcols = self.mapping.columns
        tag_text = [t[0] if t else None for t in batch.tags.values]
        if not xcols and not self.per_resource:  # the common case: the tag set alone
            return [(t, (), None, None) for t in tag_text], batch.tags.index
        xvals = zip(*(batch.kept.get(c, [None] * batch.size) for c in xcols), strict=True) if xcols else None
        rid = batch.strings["ResourceId"].to_pylist() if self.per_resource else [None] * batch.size
        rname = batch.strings["ResourceName"].to_pylist() if self.per_resource else [None] * batch.size
        seen: dict[tuple, int] = {}
        index = np.fromiter(
            (
                seen.setdefault((tag_text[t], x if xvals is not None else (), r, n), len(seen))
                for t, x, r, n in zip(
                    batch.tags.index.tolist(), xvals or [()] * batch.size, rid, rname, strict=True
                )
            ),
            dtype=np.int64,
            count=batch.size,
        )
        return list(seen), index

    def _attribute(self, key: tuple) -> tuple[tuple, int | None, list[str]]:
        """Attribution, rule id and the flags that depend on them (remembered)."""
        found = self._attributed.get(key)
        if found is not None:
            return found
        text, xvals, rid, rname = key
        tags = parse_tags(text) if text is not None else None
        attr = self.mapping.resolve(tags, dict(zip(self.mapping.columns, xvals, strict=True)))
        target = self.rules.for_tags(tags)
        if rid is not None:
            target = self.rules.by_resource.get(rid) or target
        attr = apply_rule(attr, target)
        codes: list[str] = []
        if self.registry is not None:
            pi, fund, codes = self.registry.attribute(attr[_PI], attr[_PROJECT], attr[_FUND])
            attr = _with_pi_fund(attr, pi, fund)
        facts = ChargeFacts(
            attr[_PI], attr[_PROJECT], attr[_FUND], resource_id=rid, resource_name=rname, tags=tags
        )
        codes += self._attribution_flags(attr) + self.evaluator.pattern_flags(facts, _OTHER_FIELDS)
        if len(self._attributed) >= _CACHE_LIMIT:
            self._attributed.clear()
        found = self._attributed[key] = (attr, target[0] if target else None, codes)
        return found

    def _attribution_flags(self, attr: tuple) -> list[str]:
        """The PI, project and fund checks, once per distinct three (an address parse and
        the fund patterns are the dearest rules)."""
        three = (attr[_PI], attr[_PROJECT], attr[_FUND])
        codes = self._three.get(three)
        if codes is None:
            if len(self._three) >= _CACHE_LIMIT:
                self._three.clear()
            codes = self._three[three] = self.evaluator.attribution_flags(ChargeFacts(*three))
        return list(codes)

    def _details(self, batch: Batch) -> tuple[list[tuple[str, ...]], Index]:
        """Distinct flag codes of the service, SKU and description patterns, and a per-row index."""
        if not self.per_detail:
            return [()], np.zeros(batch.size, dtype=np.int64)
        distinct: dict[tuple[str, ...], int] = {}
        per_detail = []
        for d in batch.details.values:
            three = (d[_SERVICE], d[_SKU], d[_DESCRIPTION])  # all these patterns look at
            codes = self._detail_codes.get(three)
            if codes is None:
                facts = ChargeFacts(None, None, None, service=three[0], sku=three[1], description=three[2])
                codes = tuple(self.evaluator.pattern_flags(facts, _DETAIL_FIELDS))
                if len(self._detail_codes) >= _CACHE_LIMIT:
                    self._detail_codes.clear()
                self._detail_codes[three] = codes
            per_detail.append(distinct.setdefault(codes, len(distinct)))
        return list(distinct), np.array(per_detail, dtype=np.int64)[batch.details.index]

    def _mismatch(self, batch: Batch) -> Index:
        """1 where the row's billing period is not the one the import was asked for."""
        if self.expected is None:
            return np.zeros(batch.size, dtype=np.int64)
        periods = batch.periods()
        other = np.array([p != self.expected for p in periods.values], dtype=np.int64)
        return other[periods.index]

    def _amounts(self, batch: Batch) -> Index:
        """Per row the bits of the amount flags (over_max, large_credit)."""
        r = self.evaluator.rules
        out = np.zeros(batch.size, dtype=np.int64)
        if r.max_charge is None and r.large_credit is None:
            return out
        billed = batch.money["BilledCost"].fill_null(0).to_numpy()
        if r.max_charge is not None:
            out |= np.where(billed > to_picos(r.max_charge), _OVER_MAX, 0)
        if r.large_credit is not None:
            out |= np.where(billed < -to_picos(r.large_credit), _LARGE_CREDIT, 0)
        return out

    def _expired(self, batch: Batch, attributed: list[tuple], g_index: Index) -> Index:
        """1 where the charge starts outside its fund's validity dates (registry), compared
        per row with numpy."""
        none = np.zeros(batch.size, dtype=np.int64)
        if self.registry is None:
            return none
        bounds = [self.registry.validity(a[0][_FUND]) for a in attributed]
        if all(b is None for b in bounds):
            return none
        lo = np.array([b[0].toordinal() if b and b[0] else 0 for b in bounds], dtype=np.int64)
        hi = np.array([b[1].toordinal() if b and b[1] else _NEVER for b in bounds], dtype=np.int64)
        starts = batch.charge_start
        days = np.array([d.astimezone(UTC).date().toordinal() for d in starts.values] + [0], dtype=np.int64)
        row_day = days[np.where(starts.index < 0, len(starts.values), starts.index)]
        known = starts.index >= 0
        return (known & ((row_day < lo[g_index]) | (row_day > hi[g_index]))).astype(np.int64)


_NEVER = date.max.toordinal()


@lru_cache(maxsize=4096)
def _joined(codes: tuple[str, ...]) -> str | None:
    """join_flags, remembered: each batch asks it of thousands of combos of a few codes."""
    return join_flags(codes)


def _with_pi_fund(attr: tuple, pi: str | None, fund: str | None) -> tuple:
    if attr[_PI] == pi and attr[_FUND] == fund:
        return attr
    out = list(attr)
    out[_PI], out[_FUND] = pi, fund
    return tuple(out)
