"""Stream a FOCUS cost-and-usage file (CSV, CSV.gz or Parquet) as column batches.

Reading is columnar (Apache Arrow): every cell arrives as text, repeated values are
normalised once per distinct value (dates, tags, the descriptive columns), amounts are
cast to exact 12-decimal numbers in one vectorised step. Memory stays flat: one batch
of ``batch_size`` rows is in flight at a time.

Line numbers are those of the file: the first physical line of each record, counting
the header as line 1 (Parquet: the row number, header as row 1).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from openchargeback.domain.errors import FileRefused
from openchargeback.focus import columns as C
from openchargeback.focus.batch import Batch, Problem, ReadStats, Remembered, normalise
from openchargeback.focus.scan import BackgroundScan, FileScan, Limits, detect_format

__all__ = ["Batch", "FocusFile", "NeedsExactReader", "Problem", "ReadStats"]


BLOCK_SIZE = 1 << 20  # small blocks keep Arrow's memory near 80 MB at no cost in speed
THREADS = True
_MAX_FOOTER = 16 << 20  # Parquet metadata of thousands of columns and row groups fits


class NeedsExactReader(Exception):
    """The fast reader met a malformed record; read again with ``exact=True`` (the csv
    module), which reports such records line by line."""


class FocusFile:
    """One FOCUS file: ``scan`` (hash, format), then ``batches()`` streams it."""

    def __init__(
        self,
        path: str | Path,
        *,
        default_currency: str = "USD",
        batch_size: int = 50_000,
        keep_columns: tuple[str, ...] = (),
        exact: bool = False,
        limits: Limits | None = None,
    ):
        self.path = Path(path)
        self.name = self.path.name
        self.default_currency = default_currency.upper()
        self.batch_size = batch_size
        self.keep_columns = tuple(k.lower() for k in keep_columns)
        self.exact = exact
        self.limits = limits or Limits()
        if not self.path.is_file():
            raise FileRefused(f"{self.path}: no such file")
        self.format = detect_format(self.path)
        self._scan = BackgroundScan(self.path, self.format, self.limits)
        self.headers: list[str] = []
        self.version = ""
        self.mapped: dict[str, str] = {}  # canonical -> header in the file
        self.unmapped: list[str] = []  # kept per row in the extra JSON
        self.problems: list[Problem] = []
        self.stats = ReadStats()
        self._slots: dict[str, int] = {}
        self._extra: list[tuple[int, str]] = []
        # distinct charge details (by their columns' value codes, see batch._details) and tag sets
        self.details_seen = Remembered()
        self.detail_value_codes: dict[str, dict[str, int]] = {}  # column -> value -> code
        self.tags_seen = Remembered()

    def forget(self) -> None:
        """Drop what is remembered across batches (the file is read): memory for the publish."""
        self.details_seen.forget()
        self.tags_seen.forget()
        self.detail_value_codes.clear()

    @property
    def scanned(self) -> bool:
        return self._scan.done()

    @property
    def scan(self) -> FileScan:
        """SHA-256, size and line count; waits for the background scan to finish."""
        return self._scan.result()

    # -- header -------------------------------------------------------------------------
    def _set_header(self, headers: list[str]) -> None:
        headers = [h.lstrip("\ufeff") if i == 0 else h for i, h in enumerate(headers)]
        self.headers = headers
        dataset = C.other_dataset(headers)
        if dataset:
            raise FileRefused(
                f"{self.name} is a FOCUS {dataset} file, not cost-and-usage data; "
                f"only the cost-and-usage dataset can be imported"
            )
        self.version = C.detect_version(headers)
        present = {h.strip().lower() for h in headers}
        for i, header in enumerate(headers):
            canonical = C.canonical_name(header)
            renamed = canonical is not None and header.strip().lower() != canonical.lower()
            # A draft name loses to the current name when a file carries both.
            if canonical and not (renamed and canonical.lower() in present) and canonical not in self._slots:
                self.mapped[canonical] = header
                self._slots[canonical] = i
            else:
                self.unmapped.append(header)
                self._extra.append((i, header.strip()))
        missing = [name for name in C.REQUIRED if name not in self._slots]
        if missing:
            raise FileRefused(
                f"{self.name}: missing mandatory column {', '.join(missing)} "
                f"(the header has: {', '.join(headers) or 'nothing'})"
            )

    # -- streaming ----------------------------------------------------------------------
    def batches(self) -> Iterator[Batch]:
        """Normalised batches of the valid rows; problems collect in ``self.problems``."""
        fmt = self.format
        if fmt == "parquet":
            source = self._parquet_tables()
        elif self.exact:
            source = self._python_tables()
        else:
            source = self._arrow_tables()
        for table, lines in source:
            batch = normalise(self, table, lines)
            if batch.size:
                yield batch

    def _text_stream(self) -> tuple[gzip.GzipFile | io.BufferedReader, io.TextIOWrapper]:
        # The caller closes both (``with raw, text:``).
        opener = gzip.open if self.format == "csv.gz" else open
        raw: gzip.GzipFile | io.BufferedReader = opener(self.path, "rb")  # noqa: SIM115
        return raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    def _read_header(self) -> list[str]:
        raw, text = self._text_stream()
        with raw, text:
            try:
                line = text.readline(self.limits.line)  # bounded: a header may be a bomb too
            except UnicodeDecodeError:
                raise self._not_utf8() from None
        if len(line) >= self.limits.line and not line.endswith("\n"):
            raise FileRefused(
                f"{self.name}: line 1 is longer than {self.limits.line // 1024:,} KB "
                f"(ingest.max_line_kb); refused"
            )
        header = next(csv.reader([line]), None)
        if not header:
            raise FileRefused(f"{self.name} is empty: expected a FOCUS header line")
        return header

    def _not_utf8(self) -> FileRefused:
        """The refusal for a file that is not UTF-8, naming the first bad line. Decoders
        read ahead, so the line is found again here, one physical line at a time."""
        raw = gzip.open(self.path, "rb") if self.format == "csv.gz" else open(self.path, "rb")  # noqa: SIM115
        with raw:
            for number, line in enumerate(iter(lambda: raw.readline(self.limits.line), b""), 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return FileRefused(
                        f"{self.name}:{number}: not UTF-8 text ({exc.reason} at "
                        f"byte {exc.start + 1} of the line); export the file as UTF-8"
                    )
        return FileRefused(f"{self.name}: not UTF-8 text; export the file as UTF-8")

    def _arrow_tables(self) -> Iterator[tuple[pa.Table, list[int]]]:
        header = self._read_header()
        self._set_header(header)
        names = [f"c{i}" for i in range(len(header))]
        stream = pa.input_stream(str(self.path), compression="gzip" if self.format == "csv.gz" else None)
        invalid: list[object] = []  # pyarrow's InvalidRow records

        def on_invalid(row: object) -> str:
            invalid.append(row)
            return "error"

        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=names, skip_rows=1, block_size=BLOCK_SIZE, use_threads=THREADS
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) or "utf8" in str(exc).lower():
                raise self._not_utf8() from None
            raise NeedsExactReader() from exc
        line = 2
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        try:
            for rb in reader:
                pending.append(rb)
                pending_rows += rb.num_rows
                if pending_rows >= self.batch_size:
                    table = pa.Table.from_batches(pending)
                    pending, pending_rows = [], 0
                    yield table, list(range(line, line + table.num_rows))
                    line += table.num_rows
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) or "utf8" in str(exc).lower():
                raise self._not_utf8() from None
            raise NeedsExactReader() from exc
        if pending:
            table = pa.Table.from_batches(pending)
            yield table, list(range(line, line + table.num_rows))
            line += table.num_rows
        # Line numbers above assume one line per record; a quoted value holding a newline
        # or a blank line breaks that, and only the csv module counts such files exactly.
        expected = line - 1 if self.scan.ends_with_newline else line - 2
        if expected != self.scan.newlines:
            raise NeedsExactReader()

    def _python_tables(self) -> Iterator[tuple[pa.Table, list[int]]]:
        """Slow but exact: the csv module, which knows every record's physical line.
        It reads whole lines: the scan (which refuses overlong lines) runs to its end first."""
        self.scan  # noqa: B018  (raises FileRefused for a bomb or an overlong line)
        csv.field_size_limit(max(self.limits.line, 131072))
        raw, text = self._text_stream()
        with raw, text:
            reader = csv.reader(text)
            try:
                header = next(reader, None)
                if not header:
                    raise FileRefused(f"{self.name} is empty: expected a FOCUS header line")
                self._set_header(header)
                width = len(header)
                rows: list[list[str]] = []
                lines: list[int] = []
                start = reader.line_num + 1
                for row in reader:
                    if row:
                        if len(row) == width:
                            rows.append(row)
                            lines.append(start)
                        else:
                            self.problems.append(
                                Problem(
                                    start, None, None, f"{width} fields as in the header, found {len(row)}"
                                )
                            )
                        if len(rows) >= self.batch_size:
                            yield _table(rows, width), lines
                            rows, lines = [], []
                    start = reader.line_num + 1
                if rows:
                    yield _table(rows, width), lines
            except UnicodeDecodeError:
                raise self._not_utf8() from None
            except csv.Error as exc:
                raise FileRefused(f"{self.name}:{reader.line_num}: malformed CSV: {exc}") from None

    def _parquet_tables(self) -> Iterator[tuple[pa.Table, list[int]]]:
        import pyarrow.parquet as pq

        with open(self.path, "rb") as fh:  # the footer's length: its statistics hold values too
            fh.seek(-8, 2)
            footer = int.from_bytes(fh.read(4), "little")
        if footer > _MAX_FOOTER:
            raise FileRefused(
                f"{self.name}: its Parquet metadata is {footer // 2**20:,} MB (statistics of values "
                f"longer than {self.limits.value:,} characters, ingest.max_value_chars); refused"
            )
        try:
            pf = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several types for a broken file
            raise FileRefused(f"{self.name}: not a readable Parquet file: {exc}") from None
        self._check_parquet_sizes(pf)
        self._set_header(list(pf.schema_arrow.names))
        row = 2
        for rb in pf.iter_batches(batch_size=self.batch_size):
            table = pa.Table.from_batches([rb])
            table = pa.table(
                [_as_text(col) for col in table.columns], names=[f"c{i}" for i in range(table.num_columns)]
            )
            yield table, list(range(row, row + table.num_rows))
            row += table.num_rows

    def _check_parquet_sizes(self, pf: Any) -> None:
        """Refuse, before reading a value, a file whose data expands beyond the limit, or
        a column chunk too large for its rows to hold only values within the limit (a
        few-kilobyte file may hold one value of hundreds of megabytes)."""
        meta = pf.metadata
        total = 0
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            bound = group.num_rows * self.limits.value * 16 * 4 + (1 << 20)  # 4 bytes a character
            for c in range(group.num_columns):
                size = group.column(c).total_uncompressed_size
                total += size
                if size > bound:
                    raise FileRefused(
                        f"{self.name}: column {group.column(c).path_in_schema} of row group {g + 1} holds "
                        f"{size // 2**20:,} MB for {group.num_rows:,} row(s): values longer than "
                        f"{self.limits.value:,} characters (ingest.max_value_chars); refused"
                    )
        if total > self.limits.expanded:
            raise FileRefused(
                f"{self.name}: expands to more than {self.limits.expanded // 2**20:,} MB "
                f"(ingest.max_expanded_mb); refused"
            )


def _table(rows: list[list[str]], width: int) -> pa.Table:
    cols: list[Sequence[str]] = list(zip(*rows, strict=True)) if rows else [[] for _ in range(width)]
    return pa.table([pa.array(c, pa.string()) for c in cols], names=[f"c{i}" for i in range(width)])


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Typed Parquet columns to the text a CSV export would carry."""
    import json

    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col
    if pa.types.is_map(t) or pa.types.is_struct(t) or pa.types.is_list(t):
        out: list[str | None] = []
        for v in col.to_pylist():
            if v is None:
                out.append(None)
            else:
                out.append(json.dumps(dict(v) if isinstance(v, list) else v, default=str))
        return pa.chunked_array([pa.array(out, pa.string())])
    if pa.types.is_timestamp(t) and t.tz is None:
        col = col.cast(pa.timestamp(t.unit, tz="UTC"))
    return col.cast(pa.string())
