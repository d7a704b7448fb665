"""Normalise one Arrow table of text cells into a :class:`Batch` of valid rows.

Repeated values are normalised once per distinct value: the descriptive columns of a
row form a "charge detail" key, tags and charge dates are dictionary-encoded, and
amounts are cast to exact 12-decimal numbers in one vectorised step. Rows with a
problem are left out of the batch and described in ``focus_file.problems``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from dataclasses import replace as replace_fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import compress
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from openchargeback.domain.money import from_picos, to_picos
from openchargeback.domain.periods import name_containing
from openchargeback.focus import columns as C
from openchargeback.focus.values import (
    inclusive_end,
    is_last_day_of_month,
    parse_datetime,
    parse_money,
    parse_tags,
)

if TYPE_CHECKING:
    from openchargeback.focus.reader import FocusFile

# An Arrow array or chunked array: pyarrow ships no type information.
ArrowColumn = Any
# Row numbers or per-row indices into a list of distinct values.
Index = npt.NDArray[np.int64]
# The table's column of a canonical FOCUS name, None when the file lacks it.
ColumnOf = Callable[[str], ArrowColumn | None]

_NULL_SET = frozenset(["", "NULL", "null", "Null"])
_PLACEHOLDER_SET = _NULL_SET | C.PLACEHOLDER_NULLS
_NULL_TEXT = pa.array(sorted(_NULL_SET), pa.string())
_PLACEHOLDER_TEXT = pa.array(sorted(_PLACEHOLDER_SET), pa.string())
_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_MAX = 2**63 - 1
_DECIMAL_TYPE = pa.decimal128(38, 12)
# distinct details and tag sets remembered across batches: about 600 bytes each (a 2,000,000
# row realistic export has about 140,000 details), so memory stays bounded
_SEEN_LIMIT = 250_000


@dataclass(frozen=True)
class Problem:
    line: int
    column: str | None
    value: str | None
    expected: str

    def describe(self, filename: str) -> str:
        where = f"{filename}:{self.line}"
        if self.column is None:
            return f"{where}: {self.expected}"
        return f"{where}: column {self.column}: {self.value!r}: expected {self.expected}"


@dataclass
class ReadStats:
    rows: int = 0
    rounded_values: int = 0
    # (currency, column) -> sum at ledger scale in picounits (what is stored)
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    # (currency, column) -> exact sum of the values as written (differs only when rounded)
    file_totals: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    rows_per_period: dict[str, int] = field(default_factory=dict)


@dataclass
class Coded:
    """A column of few distinct values: the values once, and an index per row."""

    values: list[Any]  # of one type per column: detail tuples, (text, tags) pairs, datetimes
    index: Index

    def decode(self) -> list[Any]:
        table = np.empty(len(self.values), dtype=object)
        table[:] = self.values
        decoded: list[Any] = table[self.index].tolist()
        return decoded


@dataclass
class Numbered(Coded):
    """Coded values with the file-wide number of each (see :class:`Remembered`; None for
    a null value)."""

    numbers: list[int | None] = field(default_factory=list)


class Remembered:
    """Distinct values of a file, numbered 1, 2, ... in the order met, each remembered
    with what it normalised to (up to ``_SEEN_LIMIT``, then forgotten all at once). A value
    met again after it was forgotten gets a new number, so whoever stores values by number
    (the import's stage) takes a number above the highest it stored as new, with no memory
    of its own. Repeated texts of the values are kept once (``shared``)."""

    def __init__(self) -> None:
        self.known: dict[Hashable, tuple[int, Any]] = {}
        self.count = 0
        self._shared: dict[Any, Any] = {}

    def find(self, key: Hashable) -> tuple[int, Any] | None:
        return self.known.get(key)

    def add(self, key: Hashable | None, value: Any) -> tuple[int, Any]:
        """Number ``value``; remember it under ``key`` unless that is None."""
        self.count += 1
        entry = (self.count, value)
        if key is not None:
            if len(self.known) >= _SEEN_LIMIT:
                self.forget()
            self.known[key] = entry
        return entry

    def forget(self) -> None:
        """Forget every value (their numbers are not given again)."""
        self.known.clear()
        self._shared.clear()

    def shared(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """The same values, each repeated one the object kept before (a detail's 30 values
        are mostly texts that thousands of details repeat: a quarter of the memory)."""
        pool = self._shared
        if len(pool) >= _SEEN_LIMIT:
            pool.clear()
        return tuple(pool.setdefault(v, v) for v in values)


@dataclass
class Batch:
    size: int
    lines: list[int]
    details: Numbered  # tuples aligned with C.DETAIL_COLUMNS; periods as aware datetimes
    tags: Numbered  # (text, dict) or None
    charge_start: Coded  # aware datetimes
    charge_end: Coded
    # Per-row values stay Arrow arrays: PostgreSQL's stage writes them as they are (as
    # Python lists, converted there and back, they held the GIL 0.4 s a 300,000-row file)
    money: dict[str, pa.Array]  # int64 picounits (1e-12), null when not given
    decimals: dict[str, pa.Array]  # exact decimal text, trimmed
    strings: dict[str, pa.Array]
    extra: pa.Array  # JSON object of the x_ and unmodelled columns
    kept: dict[str, list[str | None]]  # raw columns asked for by lower-cased header
    # column -> per row: the digits rounded away (exact - stored), only when any were
    residuals: dict[str, list[Decimal | None]] = field(default_factory=dict)

    def periods(self) -> Coded:
        """Billing period name of each row."""
        return Coded([name_containing(d[0]) for d in self.details.values], self.details.index)


def _nullify(arr: ArrowColumn, placeholders: bool = False) -> ArrowColumn:
    values = _PLACEHOLDER_TEXT if placeholders else _NULL_TEXT
    mask = pc.is_in(arr, value_set=values)
    if not pc.any(mask).as_py():
        return arr
    return pc.if_else(mask, pa.scalar(None, pa.string()), arr)


def _encode(arr: ArrowColumn) -> tuple[list[Any], Index]:
    """Distinct values and a per-row index (-1 for null)."""
    enc = pc.dictionary_encode(arr).combine_chunks()
    idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return enc.dictionary.to_pylist(), idx


class _Rows:
    """Bookkeeping of which rows of the table are still valid."""

    def __init__(self, f: FocusFile, lines: list[int]):
        self.f = f
        self.lines = lines
        self.ok = np.ones(len(lines), dtype=bool)

    def bad(
        self, rows: int | list[int] | Index, column: str | None, value: str | None, expected: str
    ) -> None:
        header = self.f.mapped.get(column, column) if column else None
        for r in np.atleast_1d(rows).tolist():
            self.f.problems.append(Problem(self.lines[r], header, value, expected))
            self.ok[r] = False


def normalise(f: FocusFile, table: pa.Table, lines: list[int]) -> Batch:
    rows = _Rows(f, lines)
    n = table.num_rows
    table = _without_nul(f, rows, table)
    _refuse_long_values(f, rows, table)

    def column(name: str) -> ArrowColumn | None:
        slot = f._slots.get(name)
        return None if slot is None else table.column(slot)

    details = _details(f, rows, column, n)
    d_index = details.index
    tags = _tags(f, rows, column("Tags"), n)
    charge_start, charge_end = _charge_periods(rows, column, details)
    money: dict[str, pa.Array] = {}
    residuals: dict[str, list[Decimal | None]] = {}
    for name in C.MONEY_COLUMNS:
        money[name], residual = _money(rows, name, column(name), n)
        if residual:
            residuals[name] = residual
    missing_billed = np.nonzero(money["BilledCost"].is_null().to_numpy(zero_copy_only=False))[0]
    if len(missing_billed):
        rows.bad(missing_billed, "BilledCost", "", "an amount (BilledCost is mandatory)")
    decimals = {name: _decimal(rows, name, column(name), n) for name in C.DECIMAL_COLUMNS}
    strings: dict[str, pa.Array] = {}
    for name in C.ROW_STRING_COLUMNS:
        col = column(name)
        strings[name] = _no_text(n) if col is None else _array(_nullify(col, True))
    extra = _extra(f, table, n)
    kept: dict[str, list[str | None]] = {}
    for i, header in enumerate(f.headers):
        if header.strip().lower() in f.keep_columns:
            kept[header.strip().lower()] = _nullify(table.column(i)).to_pylist()

    ok = rows.ok
    valid = int(ok.sum())
    if valid < n:
        keep = ok.tolist()
        lines = list(compress(lines, keep))
        details = replace_fields(details, index=d_index[ok])
        tags = replace_fields(tags, index=tags.index[ok])
        charge_start = Coded(charge_start.values, charge_start.index[ok])
        charge_end = Coded(charge_end.values, charge_end.index[ok])
        mask = pa.array(ok)
        money = {k: v.filter(mask) for k, v in money.items()}
        decimals = {k: v.filter(mask) for k, v in decimals.items()}
        strings = {k: v.filter(mask) for k, v in strings.items()}
        extra = extra.filter(mask)
        kept = {k: list(compress(v, keep)) for k, v in kept.items()}
        residuals = {k: list(compress(v, keep)) for k, v in residuals.items()}
    batch = Batch(
        valid,
        lines,
        details,
        tags,
        charge_start,
        charge_end,
        money,
        decimals,
        strings,
        extra,
        kept,
        residuals,
    )
    _count(f.stats, batch)
    return batch


def _may_hold_nul(col: ArrowColumn) -> bool:
    """Cheap test on the raw bytes: False means no value of ``col`` holds a NUL."""
    for chunk in col.chunks:
        buffers = chunk.buffers()
        data = buffers[2] if len(buffers) > 2 else None
        if data is not None and data.size and np.frombuffer(data, np.uint8).min() == 0:
            return True
    return False


def _refuse_long_values(f: FocusFile, rows: _Rows, table: pa.Table) -> None:
    """A value longer than ``ingest.max_value_chars`` (Tags: 16 times) is a problem of
    its row: no billing text is that long, and every page and export would carry it."""
    limit = f.limits.value
    tags = f._slots.get("Tags")
    for i in range(table.num_columns):
        most = limit * 16 if i == tags else limit
        col = table.column(i)
        lengths = pc.utf8_length(col)
        longest = pc.max(lengths).as_py()
        if longest is None or longest <= most:
            continue
        name = next((c for c, slot in f._slots.items() if slot == i), f.headers[i].strip())
        where = np.nonzero(pc.fill_null(pc.greater(lengths, most), False).to_numpy(zero_copy_only=False))[0]
        for r in where.tolist():
            text = col[r].as_py()
            rows.bad(r, name, f"{text[:40]}... ({len(text):,} characters)", f"at most {most:,} characters")


def _without_nul(f: FocusFile, rows: _Rows, table: pa.Table) -> pa.Table:
    """A NUL character is no billing text (and PostgreSQL cannot store it): each cell
    holding one is a problem of its row, and the character is taken out of the table."""
    for i in range(table.num_columns):
        col = table.column(i)
        if not _may_hold_nul(col):
            continue
        hits = pc.fill_null(pc.match_substring(col, "\x00"), False)
        where = np.nonzero(hits.to_numpy(zero_copy_only=False))[0]
        if not len(where):
            continue
        name = next((c for c, slot in f._slots.items() if slot == i), f.headers[i].strip())
        texts = col.to_pylist()
        for r in where.tolist():
            rows.bad(r, name, texts[r].replace("\x00", "\ufffd"), "text without NUL characters")
        table = table.set_column(i, table.field(i), pc.replace_substring(col, "\x00", "\ufffd"))
    return table


def _details(f: FocusFile, rows: _Rows, column: ColumnOf, n: int) -> Numbered:
    """The rows' distinct charge details. Each descriptive column's values get file-wide
    codes (0 for null); a row's codes side by side are its raw detail, found in the
    file's memory or parsed once. No per-row Python work: a million-row export has 21,500
    distinct details a batch, about one row in two."""
    present = [name for name in C.DETAIL_COLUMNS if name in f._slots]
    memory, value_codes = f.details_seen, f.detail_value_codes
    if any(len(codes) >= _SEEN_LIMIT for codes in value_codes.values()):
        value_codes.clear()  # codes are forgotten: so is every raw detail made of them
        memory.forget()
    codes = np.empty((n, len(present)), dtype=np.int32)
    cells_of = []  # per column: its distinct values in the batch, a per-row index
    for i, name in enumerate(present):
        uniques, index = _encode(column(name))
        nulls = _PLACEHOLDER_SET if name in C.PLACEHOLDER_NULL_COLUMNS else _NULL_SET
        known = value_codes.setdefault(name, {})
        table = [0] + [0 if u in nulls else known.setdefault(u, len(known) + 1) for u in uniques]
        codes[:, i] = np.array(table, dtype=np.int32)[index + 1]
        cells_of.append((uniques, index))
    _, first, raw_index = np.unique(_row_keys(codes), return_index=True, return_inverse=True)
    raw_index = raw_index.reshape(-1)
    raw_keys = np.ascontiguousarray(codes[first]).view(np.dtype((np.void, 4 * len(present)))).ravel()
    # Distinct raw details may normalise to one detail ("Usage" and "usage").
    keys: dict[tuple[Any, ...], int] = {}
    numbers: list[int | None] = []
    remap = np.empty(len(first), dtype=np.int64)
    for k, raw in enumerate(raw_keys.tolist()):
        found = memory.find(raw)
        if found is None:
            r, row_codes = int(first[k]), codes[first[k]]
            cells = {
                name: uniques[index[r]] if row_codes[i] else None
                for i, (name, (uniques, index)) in enumerate(zip(present, cells_of, strict=True))
            }
            detail = _detail(f, cells, rows, partial(_rows_of, raw_index, k))
            if detail is None:
                remap[k] = -1
                continue
            found = memory.add(raw, memory.shared(detail))
        number, detail = found
        slot = keys.get(detail)
        if slot is None:
            slot = keys[detail] = len(keys)
            numbers.append(number)
        remap[k] = slot
    index = remap[raw_index]
    bad = np.nonzero(index < 0)[0]
    if len(bad):
        rows.ok[bad] = False
        index = np.where(index < 0, 0, index)
    if not keys:
        return Numbered([_PLACEHOLDER_DETAIL], index, [memory.add(None, _PLACEHOLDER_DETAIL)[0]])
    return Numbered(list(keys), index, numbers)


def _row_keys(codes: npt.NDArray[np.int32]) -> Index:
    """One int64 per row, equal where the rows' codes are: the columns in mixed radix,
    renumbered densely before the key would overflow."""
    key = np.zeros(len(codes), dtype=np.int64)
    for i in range(codes.shape[1]):
        width = int(codes[:, i].max(initial=0)) + 1
        if int(key.max(initial=0)) >= (2**62) // width:
            key = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
        key = key * width + codes[:, i]
    return key


def _rows_of(index: Index, k: int) -> Index:
    return np.nonzero(index == k)[0]


_PLACEHOLDER_DETAIL = tuple([_EPOCH, _EPOCH] + [None] * (len(C.DETAIL_COLUMNS) - 2))


def _detail(
    f: FocusFile, cells: dict[str, Any], rows: _Rows, where: Callable[[], Index]
) -> tuple[Any, ...] | None:
    """Normalise one distinct set of descriptive values; None if it is unusable. ``where``
    finds its rows (only a problem needs them: a scan of the batch per distinct value)."""
    problems = False
    parsed: dict[str, tuple[datetime, bool]] = {}
    for name in ("BillingPeriodStart", "BillingPeriodEnd"):
        text = cells.get(name)
        if text is None:
            rows.bad(where(), name, "", f"a date ({name} is mandatory)")
            problems = True
            continue
        try:
            parsed[name] = parse_datetime(text)
        except ValueError as exc:
            rows.bad(where(), name, text, str(exc))
            problems = True
    if problems:
        return None
    start, _ = parsed["BillingPeriodStart"]
    end, end_date_only = parsed["BillingPeriodEnd"]
    if end_date_only and is_last_day_of_month(end) and end.day != 1:
        end = inclusive_end(end)  # "2025-01-31" written by hand: the month it closes
    if start >= end:
        rows.bad(
            where(),
            "BillingPeriodStart",
            cells["BillingPeriodStart"],
            f"a BillingPeriodStart before BillingPeriodEnd ({cells['BillingPeriodEnd']})",
        )
        return None
    cells["BillingPeriodStart"], cells["BillingPeriodEnd"] = start, end
    for name, canon in C.ENUMS.items():
        value = cells.get(name)
        if value is not None:
            cells[name] = canon.get(value.strip().lower(), value)
    currency = cells.get("BillingCurrency")
    cells["BillingCurrency"] = currency.strip().upper() if currency else f.default_currency
    for name, limit in C.MAX_LENGTH.items():
        value = cells.get(name)
        if value is not None and len(value) > limit:
            rows.bad(where(), name, value, f"text of at most {limit} characters")
            return None
    # ProviderName (<= 1.3) and ServiceProviderName (1.3+) stand in for each other.
    cells["ProviderName"] = cells.get("ProviderName") or cells.get("ServiceProviderName")
    cells["ServiceProviderName"] = cells.get("ServiceProviderName") or cells["ProviderName"]
    return tuple(cells.get(name) for name in C.DETAIL_COLUMNS)


def _tags(f: FocusFile, rows: _Rows, col: ArrowColumn | None, n: int) -> Numbered:
    if col is None:
        return Numbered([None], np.zeros(n, dtype=np.int64), [None])
    uniques, index = _encode(_nullify(col))
    values: list[tuple[str, dict[str, object]] | None] = []
    numbers: list[int | None] = []
    memory = f.tags_seen  # text -> (text, parsed)
    for k, text in enumerate(uniques):
        found = memory.find(text)
        if found is None:
            try:
                found = memory.add(text, (text, parse_tags(text)))
            except ValueError as exc:
                rows.bad(np.nonzero(index == k)[0], "Tags", text, str(exc))
                numbers.append(None)
                values.append(None)
                continue
        numbers.append(found[0])
        values.append(found[1])
    values.append(None)  # null Tags
    numbers.append(None)
    return Numbered(values, np.where(index < 0, len(uniques), index), numbers)


def _micros(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


def _charge_periods(rows: _Rows, column: ColumnOf, details: Coded) -> tuple[Coded, Coded]:
    """Charge period start and end; null ones take the row's billing period."""
    out: list[Coded] = []
    for name, slot in (("ChargePeriodStart", 0), ("ChargePeriodEnd", 1)):
        col = column(name)
        if col is None:
            out.append(Coded([d[slot] for d in details.values], details.index))
            continue
        uniques, index = _encode(_nullify(col))
        nulls = index < 0  # only these need the details' periods (as many as the details)
        fallback = [d[slot] for d in details.values] if nulls.any() else []
        values: list[datetime] = []
        for k, text in enumerate(uniques):
            try:
                dt, date_only = parse_datetime(text)
                if slot == 1 and date_only and is_last_day_of_month(dt):
                    dt = inclusive_end(dt)
            except ValueError as exc:
                rows.bad(np.nonzero(index == k)[0], name, text, str(exc))
                dt = _EPOCH
            values.append(dt)
        out.append(Coded(values + fallback, np.where(nulls, len(uniques) + details.index, index)))
    start, end = out
    s = np.array([_micros(v) for v in start.values], dtype=np.int64)[start.index]
    e = np.array([_micros(v) for v in end.values], dtype=np.int64)[end.index]
    wrong = np.nonzero((s > e) & rows.ok)[0]
    for r in wrong.tolist():
        rows.bad(
            r,
            "ChargePeriodStart",
            start.values[start.index[r]].isoformat(),
            f"a ChargePeriodStart not after ChargePeriodEnd ({end.values[end.index[r]].isoformat()})",
        )
    return start, end


def _money(
    rows: _Rows, name: str, col: ArrowColumn | None, n: int
) -> tuple[pa.Array, list[Decimal | None] | None]:
    if col is None:
        return pa.nulls(n, pa.int64()), None
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    # Null text in a CSV; a real null in a typed Parquet column.
    isnull = pc.or_(pc.is_in(col, value_set=_NULL_TEXT), pc.is_null(col)).to_numpy(zero_copy_only=False)
    try:
        dec = pc.cast(pc.if_else(isnull, "0", col), _DECIMAL_TYPE)
        words = np.frombuffer(dec.buffers()[1], dtype=np.int64).reshape(-1, 2)
        words = words[dec.offset : dec.offset + len(dec)]
        low, high = words[:, 0], words[:, 1]
        if np.any(high != (low >> 63)):
            raise OverflowError
        return pa.array(low, pa.int64(), mask=isnull), None
    except (pa.ArrowInvalid, OverflowError):
        values, residual = _money_slowly(rows, name, col.to_pylist())
        return pa.array(values, pa.int64(), mask=isnull), residual


def _money_slowly(
    rows: _Rows, name: str, texts: list[str | None]
) -> tuple[list[int | None], list[Decimal | None] | None]:
    """Value by value: names each bad cell; rounds (and counts) digits beyond 12 places."""
    values: list[int | None] = []
    residual: list[Decimal | None] = [None] * len(texts)
    any_rounded = False
    for r, text in enumerate(texts):
        if text is None or text in ("", "NULL", "null", "Null"):
            values.append(None)
            continue
        try:
            amount, rounded = parse_money(text)
            picos = to_picos(amount)
            if abs(picos) > _INT64_MAX:
                raise ValueError(f"an amount within ±{from_picos(_INT64_MAX)} per charge line")
        except ValueError as exc:
            rows.bad(r, name, text, str(exc))
            values.append(0)
            continue
        if rounded:
            residual[r] = Decimal(text.strip()) - amount
            any_rounded = True
        values.append(picos)
    return values, residual if any_rounded else None


def _decimal(rows: _Rows, name: str, col: ArrowColumn | None, n: int) -> pa.Array:
    if col is None:
        return _no_text(n)
    col = _array(_nullify(col))
    good = pc.match_substring_regex(col, _NUMBER)
    wrong = pc.and_(pc.invert(good), pc.is_valid(col)).to_numpy(zero_copy_only=False)
    for r in np.nonzero(wrong)[0].tolist():
        rows.bad(r, name, col[r].as_py(), "a decimal number such as 12.34 or 1.2e-7")
    return pc.utf8_trim_whitespace(col)


def _array(col: ArrowColumn) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _no_text(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def _extra(f: FocusFile, table: pa.Table, n: int) -> pa.Array:
    """x_ and unmodelled columns of each row as one JSON object (nulls left out)."""
    fragments = []
    for i, header in f._extra:
        uniques, index = _encode(_nullify(table.column(i)))
        if not uniques:
            continue
        frag = pa.array([f"{json.dumps(header)}: {json.dumps(u)}" for u in uniques] + [None], pa.string())
        fragments.append(pc.take(frag, pa.array(np.where(index < 0, len(uniques), index))))
    if not fragments:
        return _no_text(n)
    joined = (
        pc.binary_join_element_wise(*fragments, ", ", null_handling="skip")
        if len(fragments) > 1
        else fragments[0]
    )
    wrapped = pc.binary_join_element_wise("{", joined, "}", "")
    return _array(pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), wrapped))


def _exact_sum(picos: np.ndarray) -> int:
    """The exact sum of int64 amounts (numpy's would wrap past 9.2e18 picounits, about
    9.2 million a batch): the high and low 32 bits summed apart."""
    return int((picos >> 32).sum()) * (1 << 32) + int((picos & 0xFFFFFFFF).sum(dtype=np.uint64))


def _count(stats: ReadStats, batch: Batch) -> None:
    if not batch.size:
        return
    stats.rows += batch.size
    counts = np.bincount(batch.details.index, minlength=len(batch.details.values))
    for detail, count in zip(batch.details.values, counts.tolist(), strict=True):
        if count:
            period = name_containing(detail[0])
            stats.rows_per_period[period] = stats.rows_per_period.get(period, 0) + count
    currency_slot = C.DETAIL_COLUMNS.index("BillingCurrency")
    currencies = [d[currency_slot] for d in batch.details.values]
    distinct = sorted(set(currencies))
    code = {cur: i for i, cur in enumerate(distinct)}
    row_currency = np.array([code[c] for c in currencies], dtype=np.int64)[batch.details.index]
    for name, values in batch.money.items():
        given = values.is_valid().to_numpy(zero_copy_only=False)
        picos = values.fill_null(0).to_numpy()
        for i, cur in enumerate(distinct):
            of_cur = given & (row_currency == i) if len(distinct) > 1 else given
            if not of_cur.any():
                continue
            key = (cur, name)
            total = _exact_sum(picos[of_cur])
            stats.totals[key] = stats.totals.get(key, 0) + total
            stats.file_totals[key] = stats.file_totals.get(key, Decimal(0)) + from_picos(total)
        for r, diff in enumerate(batch.residuals.get(name, ())):
            if diff is not None:
                cur = batch.details.values[batch.details.index[r]][currency_slot]
                stats.file_totals[(cur, name)] += diff
                stats.rounded_values += 1
