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
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from openchargeback.storage.tables import CHARGE_INSERT_COLUMNS, charge_details
from openchargeback.storage.types import sqlite_time

_RESOLVED = ("import_id", "period_id", "source_id", "detail_id", "tag_set_id")
# per-row columns as staged: an order number, the period's name, local refs, the rest
ROW_COLUMNS = tuple(c for c in CHARGE_INSERT_COLUMNS if c not in _RESOLVED)
STAGED_COLUMNS = ("seq", "period", "detail_ref", "tag_ref", *ROW_COLUMNS)
SQLITE_NAME = "stage"
DETAIL_STORAGE_COLUMNS = tuple(c.name for c in charge_details.columns if c.name not in ("id", "key"))


def detail_key(values: tuple[Any, ...]) -> str:
    """charge_details.key: sha1 of the values (times in ISO form)."""
    text = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return hashlib.sha1(text.encode()).hexdigest()


class Stage:
    """Stage rows: ``detail_refs`` / ``tag_refs`` give local refs, ``add`` writes rows."""

    prefix = ""

    def __init__(self) -> None:
        self.details: dict[tuple[Any, ...], int] = {}
        self.tags: dict[str, int] = {}
        self.rows = 0

    # -- staging ---------------------------------------------------------------------
    def detail_refs(self, details: list[tuple[Any, ...]]) -> list[int]:
        new = [d for d in dict.fromkeys(details) if d not in self.details]
        if new:
            start = len(self.details) + 1
            rows = []
            for i, d in enumerate(new, start):
                self.details[d] = i
                rows.append((i, detail_key(d), *self._detail_values(d)))
            self._write("s_details", ("ref", "key", *DETAIL_STORAGE_COLUMNS), rows)
        return [self.details[d] for d in details]

    def tag_refs(self, texts: list[str | None]) -> list[int | None]:
        new = [t for t in dict.fromkeys(texts) if t is not None and t not in self.tags]
        if new:
            start = len(self.tags) + 1
            rows = []
            for i, t in enumerate(new, start):
                self.tags[t] = i
                rows.append((i, hashlib.sha1(t.encode()).hexdigest(), t))
            self._write("s_tags", ("ref", "key", "tags"), rows)
        return [None if t is None else self.tags[t] for t in texts]

    def add(self, columns: dict[str, list[Any]]) -> None:
        """Rows given column-wise: ``period`` (name), ``detail_ref``, ``tag_ref`` and the
        ROW_COLUMNS (times as aware datetimes, money as picounits)."""
        n = len(columns["line"])
        columns = {**columns, "seq": list(range(self.rows, self.rows + n))}
        for name in ("charge_period_start", "charge_period_end"):
            columns[name] = self._times(columns[name])
        self.rows += n
        self._write("s_charges", STAGED_COLUMNS, zip(*(columns[c] for c in STAGED_COLUMNS), strict=True))

    def _detail_values(self, d: tuple[Any, ...]) -> tuple[Any, ...]:
        return d

    def _times(self, values: list[Any]) -> list[Any]:
        return values

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        raise NotImplementedError

    # -- publishing --------------------------------------------------------------------
    def analyze(self) -> None:
        pass

    def publish(self, conn: Connection, import_id: int, source_id: int) -> None:
        """Move the staged rows into the ledger (in the caller's write transaction):
        missing detail and tag rows first, then the charges in staging order."""
        self.analyze()
        s = self.prefix
        detail_cols = ", ".join(DETAIL_STORAGE_COLUMNS)
        ignore = " ON CONFLICT (key) DO NOTHING" if conn.dialect.name == "postgresql" else ""
        conn.exec_driver_sql(
            f"INSERT INTO charge_details (key, {detail_cols}) "
            f"SELECT s.key, {_cols('s', DETAIL_STORAGE_COLUMNS)} "
            f"FROM {s}s_details s WHERE NOT EXISTS (SELECT 1 FROM charge_details d WHERE d.key = s.key) "
            f"ORDER BY s.ref{ignore}"
        )
        conn.exec_driver_sql(
            f"INSERT INTO tag_sets (key, tags) SELECT s.key, s.tags FROM {s}s_tags s "
            f"WHERE NOT EXISTS (SELECT 1 FROM tag_sets t WHERE t.key = s.key) ORDER BY s.ref{ignore}"
        )
        resolved = {
            "import_id": str(int(import_id)),
            "period_id": "p.id",
            "source_id": str(int(source_id)),
            "detail_id": "d.id",
            "tag_set_id": "t.id",
        }
        select_list = ", ".join(resolved.get(c, f"s.{c}") for c in CHARGE_INSERT_COLUMNS)
        conn.exec_driver_sql(
            f"INSERT INTO charges ({', '.join(CHARGE_INSERT_COLUMNS)}) SELECT {select_list} "
            f"FROM {s}s_charges s "
            f"JOIN periods p ON p.name = s.period "
            f"JOIN {s}s_details sd ON sd.ref = s.detail_ref "
            f"JOIN charge_details d ON d.key = sd.key "
            f"LEFT JOIN {s}s_tags st ON st.ref = s.tag_ref "
            f"LEFT JOIN tag_sets t ON t.key = st.key "
            f"ORDER BY s.seq"
        )


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
            "CREATE TABLE s_charges (seq INTEGER PRIMARY KEY, " + ", ".join(STAGED_COLUMNS[1:]) + ")"
        )
        self._db.execute("BEGIN")

    def _detail_values(self, d: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(sqlite_time(v) if isinstance(v, datetime) else v for v in d)

    def _times(self, values: list[Any]) -> list[Any]:
        memo: dict[Any, str] = {}
        out = []
        for v in values:
            t = memo.get(v)
            if t is None:
                t = memo[v] = sqlite_time(v)
            out.append(t)
        return out

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        self._db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})", rows)

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
        row_cols = ", ".join(ROW_COLUMNS)
        for sql in (
            f"CREATE TEMP TABLE s_details ON COMMIT DROP AS SELECT 0 AS ref, key, {detail_cols} "
            f"FROM charge_details WITH NO DATA",
            "CREATE TEMP TABLE s_tags ON COMMIT DROP AS SELECT 0 AS ref, key, tags "
            "FROM tag_sets WITH NO DATA",
            f"CREATE TEMP TABLE s_charges ON COMMIT DROP AS SELECT 0::bigint AS seq, ''::text AS period, "
            f"0 AS detail_ref, 0 AS tag_ref, {row_cols} FROM charges WITH NO DATA",
        ):
            conn.exec_driver_sql(sql)
        self._conn = conn

    def analyze(self) -> None:
        """Temporary tables have no statistics until analysed; without them the publish's
        joins are planned for empty tables (nested loops over the whole stage)."""
        for table in ("s_details", "s_tags", "s_charges"):
            self._conn.exec_driver_sql(f"ANALYZE {table}")

    def _write(self, table: str, names: tuple[str, ...], rows: Any) -> None:
        with self._raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


@contextmanager
def sqlite_stage() -> Iterator[SQLiteStage]:
    """A stage in a temporary directory (``TMPDIR``), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ocb-stage-") as tmp:
        stage = SQLiteStage(Path(tmp))
        try:
            yield stage
        finally:
            stage.close()
