"""The database's own failures, told as one message: disk full, read-only, damaged,
locked too long, PostgreSQL unreachable, a constraint the code should never break.

Drivers raise these as ``sqlite3``/``psycopg`` errors (wrapped by SQLAlchemy) whose text
names neither the database nor what to do. ``install`` tags every error an engine raises
with the engine's URL; ``fault_of`` turns an error (or one in its chain) into a
``DatabaseFault`` that names the database file or server and the way on, and returns
None for anything else (a bug keeps its traceback). Each fault also carries its ``web``
wording: the web and the API tell the same fault without commands, and send the steps
that only whoever runs the server can take to "your administrator". The CLI's ``main`` and the web app's
handlers call it at the edge, so that code inside may still catch an ``IntegrityError``
it expects.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from openchargeback.domain.errors import DatabaseFault

_TAG = "openchargeback_database_url"

# sqlite3 primary result codes (the low byte of an extended code)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 11, 13, 14
_SQLITE_CONSTRAINT, _SQLITE_NOTADB = 19, 26

DAMAGED_NEXT = (
    "Stop the web server and scheduled jobs, keep a copy of the damaged file, and restore the "
    "latest backup (`openchargeback db restore BACKUP --force`); `openchargeback db check` "
    "lists what is damaged"
)
DAMAGED_WEB = (
    "Ask your administrator to stop OpenChargeback and restore the latest backup (the operations "
    "guide tells how); a check of the database lists what is damaged"
)
ADMIN = "Ask your administrator to"


def install(engine: Engine) -> None:
    """Tag each error the engine raises with its URL (what the message will name)."""

    @event.listens_for(engine, "handle_error")
    def tag(context: ExceptionContext) -> None:
        if context.sqlalchemy_exception is not None and context.engine is not None:
            setattr(context.sqlalchemy_exception, _TAG, context.engine.url)


def describe(url: str | URL) -> str:
    """How a message names the database: its file, or its server and name."""
    return _where(url).name


def fault_of(exc: BaseException, url: str | URL | None = None) -> DatabaseFault | None:
    """The DatabaseFault an error amounts to, or None when it is not the database's.
    ``url`` names the database when the error did not come through an engine."""
    if isinstance(exc, DatabaseFault):
        return exc
    seen: set[int] = set()
    where = _where(url) if url is not None else None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tagged = getattr(current, _TAG, None)
        if tagged is not None and where is None:
            where = _where(tagged)
        found = _classify(current, where)
        if found is not None:
            return found
        orig = getattr(current, "orig", None) if isinstance(current, DBAPIError) else None
        current = orig or current.__cause__ or current.__context__
    return None


def _classify(exc: BaseException, where: Database | None) -> DatabaseFault | None:
    if isinstance(exc, IntegrityError):
        return _constraint(where, exc.orig if exc.orig is not None else exc)
    if isinstance(exc, sqlite3.Error):
        return _sqlite(exc, where or Database("the SQLite database", None))
    psycopg = sys.modules.get("psycopg")  # not imported: no psycopg error can exist
    if psycopg is not None and isinstance(exc, psycopg.Error):
        return _postgres(exc, where or Database("the PostgreSQL database", None))
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        db = where or Database("the database", None)
        return _full(db) if exc.errno != errno.EROFS else _read_only(db, exc.strerror or str(exc))
    return None


class Database:
    """What a message calls the database, and its file when it has one."""

    def __init__(self, name: str, file: Path | None):
        self.name = name
        self.file = file


def _where(url: str | URL) -> Database:
    try:
        u = make_url(url) if isinstance(url, str) else url
    except Exception:  # an unparseable URL: name no part of it
        return Database("the database", None)
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            return Database("the in-memory SQLite database", None)
        path = Path(u.database).resolve()
        return Database(f"database file {path}", path)
    host = u.host or "localhost"
    port = f":{u.port}" if u.port else ""
    return Database(f"PostgreSQL database {u.database or '?'} at {host}{port}", None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


def _sqlite(exc: sqlite3.Error, db: Database) -> DatabaseFault | None:
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    detail = _first_line(exc)
    if primary == _SQLITE_FULL or "disk is full" in detail:
        return _full(db)
    if primary == _SQLITE_READONLY or "readonly database" in detail:
        return _read_only(db, detail)
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in detail or "not a database" in detail:
        damaged = f"{db.name} is damaged ({detail}); nothing was written."
        return DatabaseFault(f"{damaged} {DAMAGED_NEXT}.", web=f"{damaged} {DAMAGED_WEB}.")
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in detail:
        from openchargeback.storage.db import BUSY_TIMEOUT_MS

        locked = f"{db.name} stayed locked by another process for more than {BUSY_TIMEOUT_MS // 1000} s"
        return DatabaseFault(
            f"{locked} (an import or another command was still writing); nothing was written. Run the "
            f"command again when that one has finished",
            web=f"{locked} (an import or another task was still writing); nothing was written. Try "
            f"again when that one has finished",
        )
    if primary == _SQLITE_CANTOPEN and _unwritable(db.file):
        return _read_only(db, detail)
    if primary == _SQLITE_CANTOPEN:
        folder = db.file.parent if db.file else "its folder"
        check = (
            f"check that {folder} exists and that the user running OpenChargeback may read and write "
            f"it, and database.url in the configuration"
        )
        return DatabaseFault(
            f"cannot open {db.name} ({detail}): {check}",
            web=f"cannot open {db.name} ({detail}); nothing was written. {ADMIN} {check}",
        )
    if primary == _SQLITE_IOERR:
        failed = f"{db.name}: the disk reported an input/output error ({detail}); nothing was written."
        return DatabaseFault(
            f"{failed} Check the disk (free space, `dmesg`), then run `openchargeback db check`",
            web=f"{failed} {ADMIN} check the disk (free space, the kernel's log) and the database",
        )
    if primary == _SQLITE_CONSTRAINT:
        return _constraint(db, exc)
    return None


# PostgreSQL SQLSTATE classes and codes (Appendix A of its manual) that are faults.
_PG_FULL = {"53100"}  # disk_full
_PG_READ_ONLY = {"25006"}  # read_only_sql_transaction (a standby, default_transaction_read_only)
_PG_DAMAGED = {"XX001", "XX002"}  # data_corrupted, index_corrupted
_PG_BUSY = {"55P03", "40P01", "40001", "57014"}  # lock not available, deadlock, serialization, timeout
_PG_RESOURCES = {"53000", "53200", "53300", "53400"}  # out of memory, too many connections


def _postgres(exc: Any, db: Database) -> DatabaseFault | None:
    state = getattr(exc, "sqlstate", None) or ""
    detail = _first_line(exc)
    if state in _PG_FULL:
        return _full(db)
    if state in _PG_READ_ONLY:
        return _read_only(db, detail)
    if state in _PG_DAMAGED:
        damaged = f"{db.name} reports damaged data ({detail}); nothing was written."
        return DatabaseFault(
            f"{damaged} Ask its administrator to check the server, then run `openchargeback db check`",
            web=f"{damaged} {ADMIN} check the database server and the database",
        )
    if state in _PG_BUSY:
        busy = f"{db.name} could not take a lock in time ({detail}); nothing was written."
        return DatabaseFault(
            f"{busy} Run the command again when the other work has finished",
            web=f"{busy} Try again when the other work has finished",
        )
    if state in _PG_RESOURCES:
        return DatabaseFault(f"{db.name} refused the work for lack of resources ({detail}); try again later")
    if state.startswith("23"):
        return _constraint(db, exc)
    if state == "42501":  # insufficient_privilege
        refused = f"{db.name} refused the user of database.url ({detail}); nothing was written."
        owner = "the owner of the database (the user that created its tables), or grant that user the rights"
        return DatabaseFault(f"{refused} Connect as {owner}", web=f"{refused} {ADMIN} connect as {owner}")
    psycopg = sys.modules["psycopg"]
    if state.startswith(("08", "57P")) or (not state and isinstance(exc, psycopg.OperationalError)):
        unreachable = f"cannot reach {db.name} ({detail}); nothing was written."
        check = (
            "check that the server is running and accepts connections from this host, and database.url "
            "in the configuration"
        )
        return DatabaseFault(f"{unreachable} C{check[1:]}", web=f"{unreachable} {ADMIN} {check}")
    return None


def _unwritable(file: Path | None) -> bool:
    """An existing file on a read-only disk, or that this user may not write (WAL mode
    cannot open it then: it needs to write ``-shm`` beside it)."""
    if file is None or not file.exists():
        return False
    try:
        read_only_disk = bool(os.statvfs(file).f_flag & os.ST_RDONLY)
    except OSError:
        read_only_disk = False
    return read_only_disk or not os.access(file, os.W_OK) or not os.access(file.parent, os.W_OK)


def _full(db: Database) -> DatabaseFault:
    where = f"the disk holding {db.file.parent}" if db.file else f"the disk of {db.name}"
    full = (
        f"{where} is full: {db.name} could not be written and the change was rolled back; "
        "nothing was written."
    )
    return DatabaseFault(
        f"{full} Free space on that disk, then run the command again",
        web=f"{full} {ADMIN} free space on that disk, then try again",
    )


def _read_only(db: Database, detail: str) -> DatabaseFault:
    if db.file is not None:
        hint = (
            f"make {db.file} and its folder writable by the user running OpenChargeback "
            f"(SQLite also writes {db.file.name}-wal and {db.file.name}-shm beside it), or mount "
            f"the disk read-write"
        )
        web = f"{ADMIN} {hint}"
    else:
        hint = "point database.url at the primary server, or ask its administrator to allow writes"
        web = f"{ADMIN} point database.url at the primary server, or to allow writes on it"
    read_only = f"{db.name} is read-only ({detail}); nothing was written."
    return DatabaseFault(f"{read_only} {hint[0].upper()}{hint[1:]}", web=f"{read_only} {web}")


def _constraint(db: Database | None, exc: BaseException) -> DatabaseFault:
    name = db.name if db is not None else "the database"
    diag = getattr(exc, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    rule = f"constraint {constraint}: " if constraint else ""
    refused = (
        f"{name} refused a write that would break its rules ({rule}{_first_line(exc)}); nothing was "
        f"written. This is a fault of OpenChargeback, not of what you did:"
    )
    return DatabaseFault(
        f"{refused} run `openchargeback db check` and report it with this message",
        web=f"{refused} ask your administrator to check the database and to report it with this message",
    )
