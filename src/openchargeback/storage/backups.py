"""Backup files: SQLite's online backup API, and the PostgreSQL client commands.

A SQLite backup is taken in one step of the backup API: it reads one snapshot of the
database (WAL included) while other processes go on writing, which ``cp`` of the file
does not (committed transactions still in ``-wal`` are lost). The copy is written to a
temporary name, made self-contained (journal mode DELETE: no ``-wal`` beside it),
checked, synced and renamed, so that FILE is either the whole backup or absent.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs

from sqlalchemy.engine import URL, make_url

from openchargeback.storage.db import BUSY_TIMEOUT_MS


def sqlite_file(url: str | URL) -> Path | None:
    u = make_url(url) if isinstance(url, str) else url
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database).resolve()


def copy_sqlite(source: Path, dest: Path, *, source_read_only: bool = True) -> list[str]:
    """Copy the SQLite database ``source`` to ``dest`` (replaced atomically); returns
    the copy's quick_check problems (none: the copy is kept). The source is opened
    read-only when asked (a backup file being restored)."""
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    uri = f"{source.as_uri()}?mode=ro" if source_read_only else source.as_uri()
    src = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            problems = [str(r[0]) for r in dst.execute("PRAGMA quick_check(20)")]
        finally:
            dst.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    if problems != ["ok"]:
        tmp.unlink(missing_ok=True)
        return problems
    _sync(tmp)
    os.replace(tmp, dest)
    _sync(dest.parent)
    return []


def sqlite_revision(path: Path) -> tuple[str | None, list[str]]:
    """(schema revision, quick_check problems) of a SQLite file, opened read-only."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(20)")]
        if problems != ["ok"]:
            return None, problems
        has = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).fetchone()
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone() if has else None
        return (str(row[0]) if row else None), []
    finally:
        conn.close()


def known_revision(revision: str) -> bool:
    """Whether this version's migrations know the revision (a newer version's do not)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from openchargeback.storage.db import MIGRATIONS

    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:
        return False


def move_aside(path: Path, suffix: str) -> Path:
    """Rename a SQLite file and its ``-wal``/``-shm`` to ``NAME.SUFFIX``; returns the new name."""
    new = path.with_name(f"{path.name}.{suffix}")
    for extra in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + extra)
        if side.exists():
            os.replace(side, new.with_name(new.name + extra))
    os.replace(path, new)
    _sync(path.parent)
    return new


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def libpq(url: str | URL) -> tuple[str, dict[str, str], str | None]:
    """(libpq connection URI without the password, environment carrying it, the schema
    named by ``options=-csearch_path=...``) for pg_dump and pg_restore."""
    u = make_url(url) if isinstance(url, str) else url
    env = {"PGPASSWORD": u.password} if u.password else {}
    plain = u.set(drivername="postgresql", password=None)
    schema = None
    options = plain.query.get("options")
    for option in [options] if isinstance(options, str) else list(options or ()):
        for part in parse_qs(option.replace(" ", "&")).get("-csearch_path", []):
            schema = part.split(",")[0]
    return plain.render_as_string(hide_password=False), env, schema


def pg_dump_command(url: str | URL, file: Path) -> tuple[list[str], dict[str, str]]:
    uri, env, schema = libpq(url)
    command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={file}"]
    if schema:
        command.append(f"--schema={schema}")
    return [*command, f"--dbname={uri}"], env


def pg_restore_command(url: str | URL, file: Path, *, clean: bool) -> tuple[list[str], dict[str, str]]:
    uri, env, _schema = libpq(url)
    command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        command += ["--clean", "--if-exists"]
    return [*command, f"--dbname={uri}", str(file)], env
