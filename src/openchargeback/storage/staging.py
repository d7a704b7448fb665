"""An import's rows, staged before they are published into the ledger.

The file is read, parsed, flagged and written here first; the ledger's write
transaction then moves the rows with set-based SQL (``INSERT ... SELECT``), so that on
SQLite the database's one write lock is held for that final step only, not for the
read of the whole file.

- SQLite: a side database file in a temporary directory (its own journal, no
  durability needed), ATTACHed as ``stage`` to the ledger's connection for the publish.
- PostgreSQL: temporary tables of the import's own transaction, filled by ``COPY``.

Descriptive detail tuples and tag texts are staged once each with a local ``ref``;
the publish creates the ledger rows that are missing (by their sha1 key) and joins the
staged charges to them.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection

from openchargeback.storage.tables import CHARGE_INSERT_COLUMNS, charge_details
from openchargeback.storage.types import sqlite_time

_RESOLVED = ("import_id", "period_id", "source_id", "detail_id", "tag_set_id")
# per-row columns as staged: an order number, the period's name, local refs, the rest
ROW_COLUMNS = tuple(c for c in CHARGE_INSERT_COLUMNS if c not in _RESOLVED)
# columns that repeat over many rows: staged once per distinct combination with the
# period, detail and tag set (a "combo"), so that each row carries one ref for them
COMBO_COLUMNS = (
    "billing_currency",
    "pi_email",
    "project_id",
    "fund_org",
    "cost_center",
    "account_code",
    "reference_1",
    "reference_2",
    "flags",
    "attribution_rule_id",
)
STAGED_COMBO_COLUMNS = ("ref", "period", "detail_ref", "tag_ref", *COMBO_COLUMNS)
PER_ROW_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in COMBO_COLUMNS)
STAGED_COLUMNS = ("seq", "combo_ref", *PER_ROW_COLUMNS)
_TIMES = ("charge_period_start", "charge_period_end")
CHARGE_IDS_LOCK = 0x0C8_0002  # PostgreSQL advisory lock: reserving a block of charge ids
_REMEMBERED = 250_000  # distinct combos remembered across batches (~150 bytes each)
SQLITE_NAME = "stage"
DETAIL_STORAGE_COLUMNS = tuple(c.name for c in charge_details.columns if c.name not in ("id", "key"))


def detail_key(values: tuple[Any, ...]) -> str:
    """charge_details.key: sha1 of the values (times in ISO form) as a JSON list."""
    return hashlib.sha1(_KEY_JSON.encode(values).encode()).hexdigest()


# json.dumps' own settings; times (the only values JSON lacks) go through ``default``
_KEY_JSON = json.JSONEncoder(default=lambda v: v.isoformat())


class Stage:
    """Stage rows: ``stage_details`` / ``stage_tags`` / ``combo_refs`` stage distinct
    values, ``add`` writes the rows."""

    prefix = ""

    def __init__(self) -> None:
        self.details_staged = self.tags_staged = 0  # the highest file-wide number staged
        self.combos: dict[tuple[int, int | None, int], int] = {}
        self.outcomes: dict[tuple[Any, ...], int] = {}
        self.combo_count = 0
        self.rows = 0

    # -- staging ---------------------------------------------------------------------
    # A detail's or tag set's ref is its file-wide number (focus.batch.Remembered): one
    # above the highest staged is new. One the reader forgot and numbered again is staged
    # again under its new number; the publish takes each key once.
    def stage_details(self, numbers: list[int | None], details: list[tuple[Any, ...]]) -> None:
        """Stage the batch's distinct details (by number) that are new."""
        new = [(n, d) for n, d in zip(numbers, details, strict=True) if n and n > self.details_staged]
        if new:
            rows = [(n, detail_key(d), *self._detail_values(d)) for n, d in new]
            self._write("s_details", ("ref", "key", *DETAIL_STORAGE_COLUMNS), rows)
            self.details_staged = max(n for n, _ in new)

    def stage_tags(self, numbers: list[int | None], texts: list[str | None]) -> None:
        """Stage the batch's distinct tag texts (by number; None for none) that are new."""
        new = [(n, t) for n, t in zip(numbers, texts, strict=True) if n and t and n > self.tags_staged]
        if new:
            rows = [(n, hashlib.sha1(text.encode()).hexdigest(), text) for n, text in new]
            self._write("s_tags", ("ref", "key", "tags"), rows)
            self.tags_staged = max(n for n, _ in new)

    def combo_refs(self, combos: list[tuple[Any, ...]]) -> list[int]:
        """Refs of distinct (period name, detail ref, tag ref, *COMBO_COLUMNS), staging the new
        ones. Remembered by (detail ref, tag ref, the rest's number): the period and currency
        are the detail's. One forgotten past the limit is staged again under a new ref: harmless."""
        refs, new = [], []
        for combo in combos:
            outcome = combo[4:]
            number = self.outcomes.get(outcome)
            if number is None:
                if len(self.outcomes) >= _REMEMBERED:
                    self.outcomes.clear()
                    self.combos.clear()  # their keys hold the forgotten numbers
                number = self.outcomes[outcome] = len(self.outcomes)
            key = (combo[1], combo[2], number)
            ref = self.combos.get(key)
            if ref is None:
                if len(self.combos) >= _REMEMBERED:
                    self.combos.clear()
                self.combo_count += 1
                ref = self.combos[key] = self.combo_count
                new.append((ref, *combo))
            refs.append(ref)
        if new:
            self._write("s_combos", STAGED_COMBO_COLUMNS, new)
        return refs

    def forget(self) -> None:
        """Drop the combos remembered while staging (all are staged)."""
        self.combos.clear()
        self.outcomes.clear()

    def add(self, columns: dict[str, Any]) -> None:
        """Rows given column-wise: ``combo_ref`` (refs per row, numpy), ``line`` and the
        other PER_ROW_COLUMNS (charge period times as ``Coded`` aware datetimes, money as
        picounits, texts as Arrow arrays)."""
        n = len(columns["line"])
        columns = {**columns, "seq": np.arange(self.rows, self.rows + n, dtype=np.int64)}
        self.rows += n
        self._add(columns)

    def _detail_values(self, d: tuple[Any, ...]) -> tuple[Any, ...]:
        return d

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        raise NotImplementedError

    def _add(self, columns: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- publishing --------------------------------------------------------------------
    def analyze(self) -> None:
        pass

    def _resolve(self, conn: Connection, select: str) -> None:
        """Create ``s_resolved`` (ref primary key) from the query."""
        raise NotImplementedError

    def publish(self, conn: Connection, import_id: int, source_id: int, into: str = "charges") -> None:
        """Move the staged rows into the ledger (in the caller's write transaction):
        missing detail and tag rows first, each combo resolved to the ledger's ids once,
        then the charges in staging order, each joined to its combo by primary key, into
        ``into`` (charges, or the not yet attached partition of the import's one new period)."""
        self.analyze()
        s = self.prefix
        # New details and tag sets in key order: each is locked by its inserter until the
        # commit, so two imports inserting shared ones in file orders waited for each
        # other (PostgreSQL: "deadlock detected"); in one order the second waits its turn.
        detail_cols = ", ".join(DETAIL_STORAGE_COLUMNS)
        ignore = " ON CONFLICT (key) DO NOTHING" if conn.dialect.name == "postgresql" else ""
        conn.exec_driver_sql(
            f"INSERT INTO charge_details (key, {detail_cols}) "
            f"SELECT s.key, {_cols('s', DETAIL_STORAGE_COLUMNS)} "
            f"FROM {s}s_details s WHERE s.ref IN (SELECT min(ref) FROM {s}s_details GROUP BY key) "
            f"AND NOT EXISTS (SELECT 1 FROM charge_details d WHERE d.key = s.key) ORDER BY s.key{ignore}"
        )
        conn.exec_driver_sql(
            f"INSERT INTO tag_sets (key, tags) SELECT s.key, s.tags FROM {s}s_tags s "
            f"WHERE s.ref IN (SELECT min(ref) FROM {s}s_tags GROUP BY key) "
            f"AND NOT EXISTS (SELECT 1 FROM tag_sets t WHERE t.key = s.key) ORDER BY s.key{ignore}"
        )
        self._resolve(
            conn,
            f"SELECT c.ref, p.id AS period_id, d.id AS detail_id, t.id AS tag_set_id, "
            f"{_cols('c', COMBO_COLUMNS)} "
            f"FROM {s}s_combos c "
            f"JOIN periods p ON p.name = c.period "
            f"JOIN {s}s_details sd ON sd.ref = c.detail_ref "
            f"JOIN charge_details d ON d.key = sd.key "
            f"LEFT JOIN {s}s_tags st ON st.ref = c.tag_ref "
            f"LEFT JOIN tag_sets t ON t.key = st.key",
        )
        resolved = {
            "import_id": str(int(import_id)),
            "source_id": str(int(source_id)),
            **{c: f"r.{c}" for c in ("period_id", "detail_id", "tag_set_id", *COMBO_COLUMNS)},
        }
        columns, order = CHARGE_INSERT_COLUMNS, " ORDER BY s.seq"
        first = self._first_id(conn)
        if first is not None:  # each row's id by its seq: the stage needs no sort
            columns, order = ("id", *columns), ""
            resolved["id"] = f"s.seq + {int(first)}"
        select_list = ", ".join(resolved.get(c, f"s.{c}") for c in columns)
        conn.exec_driver_sql(
            f'INSERT INTO "{into}" ({", ".join(columns)}) SELECT {select_list} '
            f"FROM {s}s_charges s JOIN {s}s_resolved r ON r.ref = s.combo_ref{order}"
        )

    def _first_id(self, conn: Connection) -> int | None:
        """The first of the staged rows' ids when they are reserved up front; None: the
        insert numbers them in staging order."""
        return None


def _cols(alias: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{n}" for n in names)


class SQLiteStage(Stage):
    """A side database file; ``path`` is ATTACHed for the publish (see db.unit_of_work)."""

    prefix = f"{SQLITE_NAME}."

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.path = directory / "stage.db"
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA cache_size=-65536")
        detail_cols = ", ".join(DETAIL_STORAGE_COLUMNS)
        self._db.execute(f"CREATE TABLE s_details (ref INTEGER PRIMARY KEY, key, {detail_cols})")
        self._db.execute("CREATE TABLE s_tags (ref INTEGER PRIMARY KEY, key, tags)")
        self._db.execute(
            "CREATE TABLE s_combos (ref INTEGER PRIMARY KEY, " + ", ".join(STAGED_COMBO_COLUMNS[1:]) + ")"
        )
        self._db.execute(
            "CREATE TABLE s_charges (seq INTEGER PRIMARY KEY, " + ", ".join(STAGED_COLUMNS[1:]) + ")"
        )
        self._db.execute(
            "CREATE TABLE s_resolved (ref INTEGER PRIMARY KEY, period_id, detail_id, tag_set_id, "
            + ", ".join(COMBO_COLUMNS)
            + ")"
        )
        self._db.execute("BEGIN")
        self._texts: dict[datetime, str] = {}

    def _detail_values(self, d: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(self._time(v) if isinstance(v, datetime) else v for v in d)

    def _time(self, value: datetime) -> str:
        """Fixed-width UTC text, formatted once per distinct time (few repeat many times)."""
        text = self._texts.get(value)
        if text is None:
            if len(self._texts) >= _REMEMBERED:
                self._texts.clear()
            text = self._texts[value] = sqlite_time(value)
        return text

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        self._db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})", rows)

    def _add(self, columns: dict[str, Any]) -> None:
        values = []
        for name in STAGED_COLUMNS:
            v = columns[name]
            if name in _TIMES:
                texts = np.empty(len(v.values), dtype=object)
                texts[:] = [self._time(t) for t in v.values]
                v = texts[v.index].tolist()
            elif isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, pa.Array):
                v = v.to_pylist()
            values.append(v)
        self._write("s_charges", STAGED_COLUMNS, zip(*values, strict=True))

    def _resolve(self, conn: Connection, select: str) -> None:
        conn.exec_driver_sql(f"INSERT INTO {self.prefix}s_resolved {select}")

    def ready(self) -> None:
        """All rows staged: commit them so that the ledger's connection can read them."""
        self._db.execute("COMMIT")
        self._db.close()

    def close(self) -> None:
        self._db.close()


class PostgresStage(Stage):
    """Temporary tables of the import's transaction (dropped at its end), filled by COPY."""

    prefix = "pg_temp."

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._raw: Any = conn.connection.driver_connection
        detail_cols = ", ".join(DETAIL_STORAGE_COLUMNS)
        for sql in (
            f"CREATE TEMP TABLE s_details ON COMMIT DROP AS SELECT 0 AS ref, key, {detail_cols} "
            f"FROM charge_details WITH NO DATA",
            "CREATE TEMP TABLE s_tags ON COMMIT DROP AS SELECT 0 AS ref, key, tags "
            "FROM tag_sets WITH NO DATA",
            f"CREATE TEMP TABLE s_combos ON COMMIT DROP AS SELECT 0 AS ref, ''::text AS period, "
            f"0 AS detail_ref, 0 AS tag_ref, {', '.join(COMBO_COLUMNS)} FROM charges WITH NO DATA",
            f"CREATE TEMP TABLE s_charges ON COMMIT DROP AS SELECT 0::bigint AS seq, 0 AS combo_ref, "
            f"{', '.join(PER_ROW_COLUMNS)} FROM charges WITH NO DATA",
        ):
            conn.exec_driver_sql(sql)
        self._conn = conn
        self._isos: dict[datetime, str] = {}

    def analyze(self) -> None:
        """Temporary tables have no statistics until analysed; without them the publish's
        joins are planned for empty tables (nested loops over the whole stage). Only the
        columns they join on: a detail's 30 others took a second a million rows. s_charges
        is only joined by its combo's primary key: its size (known) is all the plan needs.
        The combos are hashed in memory, not in temporary files."""
        for table, columns in (
            ("s_details", "ref, key"),
            ("s_tags", "ref, key"),
            ("s_combos", "ref, period, detail_ref, tag_ref"),
        ):
            self._conn.exec_driver_sql(f"ANALYZE {table} ({columns})")
        self._conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")

    def _first_id(self, conn: Connection) -> int | None:
        """Ids in file order without sorting the stage (5 s a million rows): one block of
        the charges' sequence, row seq (0, 1, ...) taking the block's first + seq. The
        block is reserved under an advisory lock held for those two calls only; imports
        are the one writer of charges and each reserves its ids this way, so no other id
        falls inside a block. Ids of an import rolled back stay unused, as any sequence's."""
        if not self.rows:
            return None
        seq = "pg_get_serial_sequence('charges', 'id')"
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({CHARGE_IDS_LOCK})")
        try:
            first = int(conn.exec_driver_sql(f"SELECT nextval({seq})").scalar_one())
            conn.exec_driver_sql(f"SELECT setval({seq}, {first + self.rows - 1})")
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({CHARGE_IDS_LOCK})")
        return first

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        arrays = []
        for values in zip(*rows, strict=True):
            if any(isinstance(v, datetime) for v in values):  # ISO text with its offset
                values = tuple(None if v is None else self._iso(v) for v in values)
            arrays.append(pa.array(values))
        self._copy(table, names, arrays)

    def _iso(self, value: datetime) -> str:
        text = self._isos.get(value)
        if text is None:
            if len(self._isos) >= _REMEMBERED:
                self._isos.clear()
            text = self._isos[value] = value.isoformat()
        return text

    def _add(self, columns: dict[str, Any]) -> None:
        arrays = []
        for name in STAGED_COLUMNS:
            v = columns[name]
            if name in _TIMES:  # once per distinct time (Arrow's formatting of zoned times is slow)
                arrays.append(pa.array([self._iso(t) for t in v.values], pa.string()).take(v.index))
            elif isinstance(v, pa.Array):
                arrays.append(v)
            else:
                arrays.append(pa.array(v, _ARROW_TYPES.get(name, pa.string())))
        self._copy("s_charges", STAGED_COLUMNS, arrays)

    def _copy(self, table: str, names: tuple[str, ...], arrays: list[pa.Array]) -> None:
        """The rows as one CSV buffer that Arrow writes (no Python loop per row): unquoted
        empty fields are NULL in PostgreSQL's CSV, and Arrow quotes every text value."""
        out = io.BytesIO()
        pacsv.write_csv(pa.table(arrays, names=list(names)), out, _CSV)
        with (
            self._raw.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            copy.write(out.getbuffer())

    def _resolve(self, conn: Connection, select: str) -> None:
        conn.exec_driver_sql(f"CREATE TEMP TABLE s_resolved ON COMMIT DROP AS {select}")
        conn.exec_driver_sql("ALTER TABLE s_resolved ADD PRIMARY KEY (ref)")
        conn.exec_driver_sql("ANALYZE s_resolved")


_CSV = pacsv.WriteOptions(include_header=False)
_ARROW_TYPES = {
    "seq": pa.int64(),
    "combo_ref": pa.int64(),
    "line": pa.int64(),
    **dict.fromkeys(("billed_cost", "effective_cost", "list_cost", "contracted_cost"), pa.int64()),
}


@contextmanager
def sqlite_stage() -> Iterator[SQLiteStage]:
    """A stage in a temporary directory (``TMPDIR``), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ocb-stage-") as tmp:
        stage = SQLiteStage(Path(tmp))
        try:
            yield stage
        finally:
            stage.close()
