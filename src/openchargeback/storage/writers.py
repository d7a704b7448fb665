"""Writers that must wait say for whom.

A long writer (an import publishing its rows) :func:`announce`\\ s itself for as long as
its transaction lasts: on SQLite in a small file beside the database
(``billing.db-writer``; the database cannot say it, the holder's rows being uncommitted),
on PostgreSQL as its session's ``application_name``. A write that has waited
``FIRST_WAIT_MS`` for its lock reads that and tells, once, "waiting for import #12
(FILE) to finish writing…" (to the log, and to whoever :func:`on_wait` names: the CLI
prints it), then waits on:

- SQLite: the lock is the database's one write lock, taken by ``BEGIN IMMEDIATE``
  (:func:`begin_writing`); the wait goes on for as long as the announced holder's process
  lives (at most ``LONGEST_WAIT_S``), then for the busy timeout.
- PostgreSQL: the lock is a period's row, held by an import (a share lock) while a close,
  finalize or journal export wants it (:func:`locking`); the wait goes on without limit,
  as any PostgreSQL lock wait.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Row, Table
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

# A write that waited this long for a lock says for whom.
FIRST_WAIT_MS = 1_000
# SQLite: how long a write waits for an announced writer that is still alive.
LONGEST_WAIT_S = 1_800
_APP_NAME = "openchargeback: "  # PostgreSQL: the application_name of an announced writer
_HOST = socket.gethostname()

log = logging.getLogger("openchargeback.db")
_listeners: weakref.WeakKeyDictionary[Engine, Callable[[str], None]] = weakref.WeakKeyDictionary()


def on_wait(engine: Engine, tell: Callable[[str], None]) -> None:
    """``tell`` hears, once per wait, what a write of this engine waits for."""
    _listeners[engine] = tell


def announce(conn: Connection, what: str) -> None:
    """Say, until the transaction ends, that ``what`` ("import #12 (FILE)") is writing."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT set_config('application_name', %(v)s, true)", {"v": _APP_NAME + what})
        return
    side = _side_file(conn.engine.url)
    if side is None:
        return
    tmp = side.with_name(f".{side.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"pid": os.getpid(), "host": _HOST, "what": what}))
        os.replace(tmp, side)
    except OSError:  # a courtesy, never a reason to fail (a full disk fails the write itself)
        with suppress(OSError):
            tmp.unlink()
        return
    conn.info["announced"] = side


@contextmanager
def retiring(conn: Connection) -> Iterator[None]:
    """Inside the transaction: its announcement goes before it commits or rolls back
    (nobody else wrote the file meanwhile: we held the write lock)."""
    try:
        yield
    finally:
        side = conn.info.pop("announced", None)
        if side is not None:
            with suppress(OSError):
                side.unlink()


def begin_writing(conn: Connection, busy_timeout_ms: int) -> None:
    """SQLite's ``BEGIN IMMEDIATE``, telling whom it waits for (see the module's docstring)."""
    raw: Any = conn.connection.driver_connection
    raw.execute(f"PRAGMA busy_timeout={min(FIRST_WAIT_MS, busy_timeout_ms)}")
    try:
        raw.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.Error as exc:
        busy = _busy(exc)  # any other error is raised again below, through the engine
    finally:
        raw.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    side = _side_file(conn.engine.url) if busy else None
    told = None
    deadline = time.monotonic() + LONGEST_WAIT_S
    while side is not None and time.monotonic() < deadline:
        holder = _announced(side)
        if holder is None:
            break
        if holder != told:
            _tell(conn.engine, holder)
            told = holder
        try:
            raw.execute("BEGIN IMMEDIATE")  # waits up to the busy timeout
            return
        except sqlite3.Error as exc:
            if not _busy(exc):
                break
    # the busy timeout once more, through the engine: its failure becomes a DatabaseFault
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def locking(conn: Connection, statement: Executable) -> Sequence[Row[Any]]:
    """The rows of a row-locking statement (``FOR UPDATE``). On PostgreSQL a lock not had
    within FIRST_WAIT_MS names the announced writers that hold locks on its tables, then
    waits on. (On SQLite the write transaction's BEGIN did the waiting.)"""
    if conn.dialect.name != "postgresql":
        return conn.execute(statement).all()
    before = conn.exec_driver_sql("SHOW lock_timeout").scalar_one()
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {FIRST_WAIT_MS}")
            rows = conn.execute(statement).all()
        conn.exec_driver_sql("SELECT set_config('lock_timeout', %(v)s, true)", {"v": before})
        return rows
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
    # the announced sessions holding a lock on the statement's tables (as this session names them)
    tables = [t.name for t in getattr(statement, "get_final_froms", list)() if isinstance(t, Table)]
    holders = conn.exec_driver_sql(
        "SELECT substr(a.application_name, %(n)s) FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() "
        "AND a.application_name LIKE %(p)s AND a.pid IN (SELECT l.pid FROM pg_locks l WHERE l.granted "
        "AND l.relation = ANY(CAST(%(t)s AS regclass[]))) ORDER BY a.pid",
        {"n": len(_APP_NAME) + 1, "p": _APP_NAME + "%", "t": tables},
    ).scalars()
    for holder in holders:
        _tell(conn.engine, holder)
    return conn.execute(statement).all()


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _tell(engine: Engine, holder: str) -> None:
    message = f"waiting for {holder} to finish writing…"
    log.warning(message)
    tell = _listeners.get(engine)
    if tell is not None:
        tell(message)


def _side_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(f"{url.database}-writer")


def _announced(side: Path) -> str | None:
    """What the side file announces, while its process lives (a killed import leaves the
    file behind; a process of another host is believed)."""
    try:
        record = json.loads(side.read_text())
        what, pid, host = str(record["what"]), int(record["pid"]), record.get("host")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host == _HOST:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # another user's process: alive
            pass
    return what
