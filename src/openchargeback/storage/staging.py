"""An import's rows, staged before they are published into the ledger.

The file is read, parsed, flagged and written here first; the ledger's write
transaction then moves the rows with set-based SQL (``INSERT ... SELECT``), so that on
SQLite the database's one write lock is held for that final step only, not for the
read of the whole file.

- SQLite: a side database file in a temporary directory (its own journal, no
  durability needed), ATTACHed as ``stage`` to the ledger's connection for the publish.
- PostgreSQL: temporary tables of the import's own transaction, filled by ``COPY``.
  The file's rows stream into one COPY held open while the file is read (the ids the
  rows need come from the sequences over a second connection); the small tables'
  data waits in spool files until the file is read (``ready``). The rows of a period
  that is new when the file's first batch is read skip the stage: they are copied
  into a table of their own, which the publish makes the period's partition
  (``PostgresStage.direct_to``). Their ids (the import's, the period's, each row's,
  each new detail's and tag set's) are taken from the sequences as they are written;
  a detail or tag set stored meanwhile by another import keeps that one's id, and the
  rows are mended to it at the publish.

Descriptive detail tuples and tag texts are staged once each with a local ``ref``;
the publish creates the ledger rows that are missing (by their sha1 key) and joins the
staged charges to them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Connection

from openchargeback.storage import partitions
from openchargeback.storage import periods as periods_repo
from openchargeback.storage.tables import CHARGE_INSERT_COLUMNS, charge_details
from openchargeback.storage.types import sqlite_time

Index = npt.NDArray[np.int64]
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

    reserves_ids = False  # PostgreSQL: rows, details and tag sets take their ids when staged

    def __init__(self) -> None:
        self.details_staged = self.tags_staged = 0  # the highest file-wide number staged
        self.combos: dict[tuple[int, int | None, int], int] = {}
        self.outcomes: dict[tuple[Any, ...], int] = {}
        self.combo_count = 0
        self.rows = self.staged_rows = 0  # rows added; of them, rows in s_charges
        self.direct: Direct | None = None
        self._texts: dict[datetime, str] = {}

    # -- staging ---------------------------------------------------------------------
    # A detail's or tag set's ref is its file-wide number (focus.batch.Remembered): one
    # above the highest staged is new. One the reader forgot and numbered again is staged
    # again under its new number; the publish takes each key once.
    def stage_details(self, numbers: list[int | None], details: list[tuple[Any, ...]]) -> None:
        """Stage the batch's distinct details (by number) that are new."""
        new = [(n, d) for n, d in zip(numbers, details, strict=True) if n and n > self.details_staged]
        if new:
            rows = [(n, detail_key(d), *self._detail_values(d)) for n, d in new]
            self._numbered("s_details", "charge_details", ("ref", "key", *DETAIL_STORAGE_COLUMNS), rows)
            self.details_staged = max(n for n, _ in new)

    def stage_tags(self, numbers: list[int | None], texts: list[str | None]) -> None:
        """Stage the batch's distinct tag texts (by number; None for none) that are new."""
        new = [(n, t) for n, t in zip(numbers, texts, strict=True) if n and t and n > self.tags_staged]
        if new:
            rows = [(n, hashlib.sha1(text.encode()).hexdigest(), text) for n, text in new]
            self._numbered("s_tags", "tag_sets", ("ref", "key", "tags"), rows)
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

    def ready(self) -> None:
        """Every row is staged: the publish can read them."""

    def direct_to(self, period: str, source_id: int) -> None:
        """The first batch's rows are all of ``period``: PostgreSQL writes them, and the
        file's later rows of that period, straight into its partition when it is new."""

    def add(self, columns: dict[str, Any], combos: list[tuple[Any, ...]], index: Index) -> None:
        """Rows given column-wise: ``line`` and the other PER_ROW_COLUMNS (charge period
        times as ``Coded`` aware datetimes, money as picounits, texts as Arrow arrays);
        ``combos`` the batch's distinct (period name, detail ref, tag ref, *COMBO_COLUMNS),
        ``index`` each row's."""
        n = len(index)
        self._add({**columns, "seq": self._seq(n)}, combos, index)
        self.rows += n

    def _seq(self, n: int) -> Index:
        """The rows' order numbers (the charges' ids where the stage reserves them)."""
        return np.arange(self.rows, self.rows + n, dtype=np.int64)

    def _add(self, columns: dict[str, Any], combos: list[tuple[Any, ...]], index: Index) -> None:
        """Stage the rows, each with its combo's ref."""
        refs = np.array(self.combo_refs(combos), dtype=np.int64)
        self._write_rows({**columns, "combo_ref": refs[index]})
        self.staged_rows += len(index)

    def _detail_values(self, d: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(self._time(v) if isinstance(v, datetime) else v for v in d)

    def _time(self, value: datetime) -> str:
        """The database's text of a time, formatted once per distinct time (few repeat many times)."""
        text = self._texts.get(value)
        if text is None:
            if len(self._texts) >= _REMEMBERED:
                self._texts.clear()
            text = self._texts[value] = self._time_text(value)
        return text

    @staticmethod
    def _time_text(value: datetime) -> str:
        raise NotImplementedError

    def _numbered(self, table: str, ledger: str, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Stage new details or tag sets (``ledger``'s rows to be)."""
        self._write(table, names, rows)

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        raise NotImplementedError

    def _write_rows(self, columns: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- publishing --------------------------------------------------------------------
    def analyze(self) -> None:
        pass

    def _resolve(self, conn: Connection, select: str) -> None:
        """Create ``s_resolved`` (ref primary key) from the query."""
        raise NotImplementedError

    def publish(self, conn: Connection, import_id: int, source_id: int, period_ids: dict[str, int]) -> None:
        """Move the staged rows into the ledger (in the caller's write transaction):
        missing detail and tag rows first, each combo resolved to the ledger's ids once,
        then the charges in staging order, each joined to its combo by primary key.
        ``period_ids``: the file's periods' ids."""
        self.analyze()
        s = self.prefix
        # New details and tag sets in key order: each is locked by its inserter until the
        # commit, so two imports inserting shared ones in file orders waited for each
        # other (PostgreSQL: "deadlock detected"); in one order the second waits its turn.
        detail_cols = ", ".join(DETAIL_STORAGE_COLUMNS)
        ignore = " ON CONFLICT (key) DO NOTHING" if conn.dialect.name == "postgresql" else ""
        ids, s_ids = ("id, ", "s.id, ") if self.reserves_ids else ("", "")
        conn.exec_driver_sql(
            f"INSERT INTO charge_details ({ids}key, {detail_cols}) "
            f"SELECT {s_ids}s.key, {_cols('s', DETAIL_STORAGE_COLUMNS)} "
            f"FROM {s}s_details s WHERE s.ref IN (SELECT min(ref) FROM {s}s_details GROUP BY key) "
            f"AND NOT EXISTS (SELECT 1 FROM charge_details d WHERE d.key = s.key) ORDER BY s.key{ignore}"
        )
        conn.exec_driver_sql(
            f"INSERT INTO tag_sets ({ids}key, tags) SELECT {s_ids}s.key, s.tags FROM {s}s_tags s "
            f"WHERE s.ref IN (SELECT min(ref) FROM {s}s_tags GROUP BY key) "
            f"AND NOT EXISTS (SELECT 1 FROM tag_sets t WHERE t.key = s.key) ORDER BY s.key{ignore}"
        )
        self._place_direct(conn, period_ids)
        if not self.staged_rows:
            return
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
        if self.reserves_ids:  # each row's seq is its id: no sort
            columns, order = ("id", *columns), ""
            resolved["id"] = "s.seq"
        select_list = ", ".join(resolved.get(c, f"s.{c}") for c in columns)
        conn.exec_driver_sql(
            f"INSERT INTO charges ({', '.join(columns)}) SELECT {select_list} "
            f"FROM {s}s_charges s JOIN {s}s_resolved r ON r.ref = s.combo_ref{order}"
        )

    def _place_direct(self, conn: Connection, period_ids: dict[str, int]) -> None:
        """The rows written straight into a table of their own take their place."""


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

    _time_text = staticmethod(sqlite_time)  # fixed-width UTC text

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        self._db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})", rows)

    def _write_rows(self, columns: dict[str, Any]) -> None:
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
    """Temporary tables of the import's transaction (dropped at its end), filled by COPY.
    Rows, details and tag sets take their ids when staged. When the file's first batch is
    all of one new period, that period's rows go straight into a table of their own,
    which the publish makes the period's partition (``direct_to``)."""

    prefix = "pg_temp."
    reserves_ids = True

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._raw: Any = conn.connection.driver_connection
        detail_cols = ", ".join(DETAIL_STORAGE_COLUMNS)
        for sql in (
            f"CREATE TEMP TABLE s_details ON COMMIT DROP AS SELECT 0 AS ref, id, key, {detail_cols} "
            f"FROM charge_details WITH NO DATA",
            "CREATE TEMP TABLE s_tags ON COMMIT DROP AS SELECT 0 AS ref, id, key, tags "
            "FROM tag_sets WITH NO DATA",
            f"CREATE TEMP TABLE s_combos ON COMMIT DROP AS SELECT 0 AS ref, ''::text AS period, "
            f"0 AS detail_ref, 0 AS tag_ref, {', '.join(COMBO_COLUMNS)} FROM charges WITH NO DATA",
            f"CREATE TEMP TABLE s_charges ON COMMIT DROP AS SELECT 0::bigint AS seq, 0 AS combo_ref, "
            f"{', '.join(PER_ROW_COLUMNS)} FROM charges WITH NO DATA",
        ):
            conn.exec_driver_sql(sql)
        self._conn = conn
        self._ids: dict[str, dict[int, int]] = {"s_details": {}, "s_tags": {}}  # ref -> id
        self._stream: _Stream | None = None  # the rows' COPY, open while the file is read
        self._later: dict[tuple[str, tuple[str, ...]], IO[bytes]] = {}  # COPY data for the end
        self._spools = ExitStack()
        self._sequences: Connection | None = None

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

    def direct_to(self, period: str, source_id: int) -> None:
        """COPY into the new period's partition while the file is read saves the stage's
        INSERT of every row (3 s of a million, issue 21). The partition is a table of its
        own until the publish; the import's and the period's ids are taken now."""
        if periods_repo.get(self._conn, period) is not None:
            return
        (import_id,) = self._nextvals("imports", 1)
        (period_id,) = self._nextvals("periods", 1)
        table = f"charges_import_{import_id}"
        partitions.make_table(self._conn, table, period_id)
        self.direct = Direct(period, period_id, import_id, source_id, table)

    def _ids_connection(self) -> Connection:
        """A connection of its own for the sequences: the import's is busy with the rows'
        COPY while the file is read (nextval is not transactional: the same either way)."""
        if self._sequences is None:
            self._sequences = self._conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._sequences

    def _nextvals(self, table: str, count: int) -> list[int]:
        """``count`` new ids of ``table`` from its sequence (taken, never reused)."""
        return list(
            self._ids_connection()
            .exec_driver_sql(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                f"FROM generate_series(1, {int(count)})"
            )
            .scalars()
        )

    def _numbered(self, table: str, ledger: str, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        ids = self._nextvals(ledger, len(rows))
        known = self._ids[table]
        for row, i in zip(rows, ids, strict=True):
            known[row[0]] = i
        self._write(
            table, (names[0], "id", *names[1:]), [(r[0], i, *r[1:]) for r, i in zip(rows, ids, strict=True)]
        )

    def _seq(self, n: int) -> Index:
        """Ids in file order without sorting: one block of the charges' sequence a batch,
        reserved under an advisory lock held for those two calls only; imports are the one
        writer of charges and each reserves its ids this way, so no other id falls inside
        a block. Ids of an import rolled back stay unused, as any sequence's."""
        if not n:
            return np.empty(0, dtype=np.int64)
        seq = "pg_get_serial_sequence('charges', 'id')"
        conn = self._ids_connection()
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({CHARGE_IDS_LOCK})")
        try:
            first = int(conn.exec_driver_sql(f"SELECT nextval({seq})").scalar_one())
            conn.exec_driver_sql(f"SELECT setval({seq}, {first + n - 1})")
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({CHARGE_IDS_LOCK})")
        return np.arange(first, first + n, dtype=np.int64)

    def _add(self, columns: dict[str, Any], combos: list[tuple[Any, ...]], index: Index) -> None:
        d = self.direct
        if d is None:
            return super()._add(columns, combos, index)
        mine = np.array([c[0] == d.period for c in combos], dtype=bool)[index]
        if mine.all():
            return self._copy_direct(columns, combos, index)
        if mine.any():
            self._copy_direct(_some(columns, mine), combos, index[mine])
        super()._add(_some(columns, ~mine), combos, index[~mine])

    def _copy_direct(self, columns: dict[str, Any], combos: list[tuple[Any, ...]], index: Index) -> None:
        """The rows, with their combos' values and the ledger ids, into the period's table."""
        d, n, take = self.direct, len(index), pa.array(index)
        assert d is not None
        per_combo = list(zip(*combos, strict=True))
        details, tags = self._ids["s_details"], self._ids["s_tags"]
        detail_ids = [details[r] for r in per_combo[1]]
        tag_ids = [None if r is None else tags[r] for r in per_combo[2]]
        values: dict[str, Any] = {
            "id": pa.array(columns["seq"]),
            **{c: pa.array(np.full(n, v, dtype=np.int64)) for c, v in d.constants().items()},
            "detail_id": pa.array(detail_ids, pa.int64()).take(take),
            "tag_set_id": pa.array(tag_ids, pa.int64()).take(take),
            **{c: pa.array(per_combo[3 + i]).take(take) for i, c in enumerate(COMBO_COLUMNS)},
        }
        for name in PER_ROW_COLUMNS:
            values[name] = self._arrow(name, columns[name])
        names = ("id", *CHARGE_INSERT_COLUMNS)
        self._copy(d.table, names, [values[c] for c in names], rows=True)

    def _place_direct(self, conn: Connection, period_ids: dict[str, int]) -> None:
        """A detail or tag set whose reserved id lost to another import's (committed
        meanwhile, or numbered twice in this file) is mended in the rows that hold it.
        The table then becomes the period's partition; unless another import made the
        period meanwhile: its partition takes the rows."""
        d = self.direct
        if d is None:
            return
        for staged, ledger, column in (
            ("s_details", "charge_details", "detail_id"),
            ("s_tags", "tag_sets", "tag_set_id"),
        ):
            lost = f"FROM pg_temp.{staged} s JOIN {ledger} l ON l.key = s.key WHERE l.id <> s.id"
            if conn.exec_driver_sql(f"SELECT EXISTS (SELECT 1 {lost})").scalar():
                conn.exec_driver_sql(f'UPDATE "{d.table}" c SET {column} = l.id {lost} AND c.{column} = s.id')
        period_id = period_ids[d.period]
        if period_id == d.period_id:
            partitions.adopt(conn, d.table, period_id, d.period)
            return
        names = ("id", *CHARGE_INSERT_COLUMNS)
        select_list = ", ".join(str(int(period_id)) if c == "period_id" else c for c in names)
        conn.exec_driver_sql(
            f'INSERT INTO charges ({", ".join(names)}) SELECT {select_list} FROM "{d.table}" ORDER BY id'
        )
        conn.exec_driver_sql(f'DROP TABLE "{d.table}"')

    @staticmethod
    def _time_text(value: datetime) -> str:
        return value.isoformat()  # ISO text with its offset

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        self._copy(table, names, [pa.array(values) for values in zip(*rows, strict=True)])

    def _arrow(self, name: str, v: Any) -> pa.Array:
        if name in _TIMES:  # once per distinct time (Arrow's formatting of zoned times is slow)
            return pa.array([self._time(t) for t in v.values], pa.string()).take(v.index)
        if isinstance(v, pa.Array):
            return v
        return pa.array(v, _ARROW_TYPES.get(name, pa.string()))

    def _write_rows(self, columns: dict[str, Any]) -> None:
        arrays = [self._arrow(n, columns[n]) for n in STAGED_COLUMNS]
        self._copy("s_charges", STAGED_COLUMNS, arrays, rows=self.direct is None)

    def _copy(self, table: str, names: tuple[str, ...], arrays: list[pa.Array], rows: bool = False) -> None:
        """The rows as one CSV buffer that Arrow writes (no Python loop per row): unquoted
        empty fields are NULL in PostgreSQL's CSV, and Arrow quotes every text value.
        The file's rows (``rows``) stream into one COPY that stays open while the file is
        read: the server stores a batch while the next is read and flagged (it waited 2 s
        of 5 for the server on 300,000 rows, issue 21). Everything else (details, tag
        sets, combos, rows of other periods) waits in a spool file for ``ready``."""
        out = io.BytesIO()
        pacsv.write_csv(pa.table(arrays, names=list(names)), out, _CSV)
        if not rows:
            spool = self._later.get((table, names))
            if spool is None:
                spool = tempfile.SpooledTemporaryFile(_SPOOLED, prefix="ocb-")  # noqa: SIM115 (in _spools)
                self._later[(table, names)] = self._spools.enter_context(spool)
            spool.write(out.getbuffer())
            return
        if self._stream is None:
            self._stream = _Stream(self._raw, table, names)
        assert (self._stream.table, self._stream.names) == (table, names)
        self._stream.write(out.getbuffer())

    def ready(self) -> None:
        """The file is read: end the rows' COPY (waits for the server to store the last
        batch) and copy what waited for it."""
        self._end_stream(None)
        for (table, names), spool in self._later.items():
            spool.seek(0)
            with self._raw.cursor() as cur, cur.copy(_copy_sql(table, names)) as copy:
                while chunk := spool.read(1 << 20):
                    copy.write(chunk)
        self.close()

    def abort(self, exc: BaseException) -> None:
        """The import failed while the file was read: end the COPY with the error (the
        connection can then roll back)."""
        with suppress(Exception):  # (a lost connection) the import's error is the one to tell
            self._end_stream(exc)

    def _end_stream(self, exc: BaseException | None) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close(exc)

    def close(self) -> None:
        self._spools.close()
        self._later.clear()
        if self._sequences is not None:
            self._sequences.close()
            self._sequences = None

    def _resolve(self, conn: Connection, select: str) -> None:
        conn.exec_driver_sql(f"CREATE TEMP TABLE s_resolved ON COMMIT DROP AS {select}")
        conn.exec_driver_sql("ALTER TABLE s_resolved ADD PRIMARY KEY (ref)")
        conn.exec_driver_sql("ANALYZE s_resolved")


class _Stream:
    """A COPY of rows into ``table`` kept open across batches. Its data is sent by
    psycopg's writer thread: ``write`` returns at once (the socket waits release the
    GIL) unless the server is 128 MiB behind."""

    def __init__(self, raw: Any, table: str, names: tuple[str, ...]) -> None:
        self.table, self.names = table, names
        self._open = ExitStack()
        cursor = self._open.enter_context(raw.cursor())
        sql = _copy_sql(table, names)
        self._copy = self._open.enter_context(cursor.copy(sql, writer=QueuedLibpqWriter(cursor)))

    def write(self, data: memoryview) -> None:
        self._copy.write(data)

    def close(self, exc: BaseException | None) -> None:
        """End the COPY: committed to the transaction, or failed with ``exc``."""
        if exc is None:
            self._open.close()
            return
        # Ending a COPY whose connection is lost fails too; psycopg logs that failure as
        # a warning, a second message after the import's own (errors.md: one message).
        log = logging.getLogger("psycopg")
        log.addFilter(_not_ending_copy)
        try:
            self._open.__exit__(type(exc), exc, exc.__traceback__)
        finally:
            log.removeFilter(_not_ending_copy)


def _not_ending_copy(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("error ignored terminating <psycopg.Copy")


def _copy_sql(table: str, names: tuple[str, ...]) -> str:
    return f'COPY "{table}" ({", ".join(names)}) FROM STDIN WITH (FORMAT csv)'


@contextmanager
def postgres_stage(conn: Connection) -> Iterator[PostgresStage]:
    """A stage in the import's transaction; its COPY ended (with the error) if the import
    fails while the file is read, so that the transaction can roll back."""
    stage = PostgresStage(conn)
    try:
        yield stage
    except BaseException as exc:
        stage.abort(exc)
        raise
    finally:
        stage.close()


@dataclass(frozen=True)
class Direct:
    """The new period whose rows PostgreSQL writes straight into ``table``, and the ids
    taken for it and the import."""

    period: str
    period_id: int
    import_id: int
    source_id: int
    table: str

    def constants(self) -> dict[str, int]:
        return {"import_id": self.import_id, "period_id": self.period_id, "source_id": self.source_id}


def _some(columns: dict[str, Any], mask: Index) -> dict[str, Any]:
    """The rows of ``mask`` of columns given as ``Stage.add`` takes them."""
    out: dict[str, Any] = {}
    for name, v in columns.items():
        if name in _TIMES:  # coded: the distinct times, an index per row
            out[name] = dataclasses.replace(v, index=v.index[mask])
        elif isinstance(v, pa.Array):
            out[name] = v.filter(pa.array(mask))
        else:
            out[name] = np.asarray(v)[mask]
    return out


_CSV = pacsv.WriteOptions(include_header=False)
_SPOOLED = 16 << 20  # a spool file stays in memory up to this size
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
