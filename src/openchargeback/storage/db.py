"""Engines, migrations and the unit of work.

SQLite runs in WAL mode with a busy timeout so that the CLI and the web server can
work on one file at once; a writing unit of work takes the write lock up front
(``BEGIN IMMEDIATE``) so that two writers queue instead of failing half-way; one that
must wait for a long writer (an import publishing) says so (:mod:`.writers`).

Alembic is imported only to migrate or to look at an unknown revision: opening a
database already at ``HEAD_REVISION`` reads its ``alembic_version`` row and goes on, so
that a CLI command does not pay for loading the migration machinery.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from openchargeback.domain.errors import ConfigError
from openchargeback.storage import faults, writers

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
# The newest migration's revision; a test checks it against the migration scripts.
HEAD_REVISION = "0021_dispute_withdrawn"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _sqlite_setup(engine)
        faults.install(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_pre_ping=True)
        faults.install(engine)
        return engine
    raise ConfigError(
        f"database.url {masked_url(url)!r}: only sqlite:// and postgresql+psycopg:// are supported"
    )


_SECRET_PARAM = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def masked_url(url: str | URL, mask: str = "********") -> str:
    """A database URL fit to show: the password hidden, in ``user:pass@`` and in query
    parameters such as ``?password=`` or ``sslpassword`` (all of it when unparseable)."""
    try:
        u = make_url(url)
    except Exception:  # ArgumentError and friends: show nothing of it
        return mask
    hole = "x0masked0x"  # rendered as is (the mask's '*' would be percent-encoded)
    if u.password:
        u = u.set(password=hole)
    u = u.update_query_dict({k: hole for k in u.query if _SECRET_PARAM.search(k)})
    return u.render_as_string(hide_password=False).replace(hole, mask)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA page_size=16384")  # takes effect on a new database only
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache (a bound, not an allocation)
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        if conn.info.get("write"):
            writers.begin_writing(conn, BUSY_TIMEOUT_MS)
        else:
            conn.exec_driver_sql("BEGIN")


def alembic_config(engine: Engine, connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # configparser interpolates '%': escape it (URL-encoded options and passwords carry it)
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision(engine: Engine) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    if head is None:
        raise ConfigError(f"no migrations found in {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to the newest revision; returns (before, after)."""
    from alembic import command

    before = current_revision(engine)
    from openchargeback.storage import maintenance

    with engine.connect() as conn:  # a damaged SQLite file is not migrated
        maintenance.guard_writes(engine, conn)
    with engine.begin() as conn:
        conn.info["write"] = True
        command.upgrade(alembic_config(engine, conn), "head")
    return before, head_revision(engine)


def ensure_schema(engine: Engine) -> None:
    """A new (empty) database is migrated on first use; an old one must be upgraded
    explicitly, so that nobody's data is migrated by surprise."""
    if _stamped_revision(engine) == HEAD_REVISION:
        return
    current = current_revision(engine)
    if current is None:
        if inspect(engine).get_table_names():
            raise ConfigError(
                f"database {masked_url(engine.url)} has tables but no migration record; "
                f"it is not an OpenChargeback database"
            )
        upgrade(engine)
        return
    head = head_revision(engine)
    if current != head:
        raise ConfigError(
            f"database is at schema revision {current}, this version needs {head}: "
            f"back it up, then run `openchargeback db upgrade -c CONFIG`"
        )


def _stamped_revision(engine: Engine) -> str | None:
    """The revision in ``alembic_version`` read with plain SQL (no alembic import);
    None when there is no such table or not exactly one row."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    except SQLAlchemyError:
        return None
    return str(rows[0]) if len(rows) == 1 else None


@contextmanager
def unit_of_work(engine: Engine, *, write: bool = False, attach: Path | None = None) -> Iterator[Connection]:
    """One transaction: commits when the block ends normally, rolls back otherwise.
    A process's first write to a SQLite file is refused when the file is damaged
    (checked outside the write lock, see maintenance.guard_writes)."""
    with engine.connect() as conn:
        from openchargeback.storage import maintenance

        if write and maintenance.unchecked(engine):
            conn.info["write"] = False
            with conn.begin():
                maintenance.guard_writes(engine, conn)
        conn.info["write"] = write
        if attach is None:
            with conn.begin(), writers.retiring(conn):
                yield conn
            return
        # an import's staged rows (storage.staging), readable as stage.* for the transaction
        raw: Any = conn.connection.driver_connection  # outside any transaction, as SQLite requires
        raw.execute("ATTACH DATABASE ? AS stage", (str(attach),))
        try:
            with conn.begin(), writers.retiring(conn):
                yield conn
        finally:
            raw.execute("DETACH DATABASE stage")
