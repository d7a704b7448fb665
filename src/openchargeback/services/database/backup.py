"""``db backup FILE`` and ``db restore FILE``.

SQLite: the online backup API (consistent while the server writes); a restore goes
into an empty database, or with ``force`` replaces the current file, which is kept
beside it under a new name (nothing is deleted). PostgreSQL: pg_dump / pg_restore, run
when they are on PATH, otherwise the exact command is returned for the operator.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from openchargeback.config import Settings
from openchargeback.domain.errors import Conflict, DatabaseFault, InvalidInput
from openchargeback.services.context import Context, build_context
from openchargeback.storage import backups, faults, maintenance


@dataclass(frozen=True)
class BackupResult:
    database: str
    file: Path
    size_bytes: int | None  # None: the command was not run
    command: str | None = None  # PostgreSQL: the pg_dump/pg_restore command (run or to run)
    ran: bool = True
    revision: str | None = None
    kept: Path | None = None  # restore --force: where the replaced file went

    def as_json(self) -> dict:
        return {
            "database": self.database,
            "file": str(self.file),
            "size_bytes": self.size_bytes,
            "command": self.command,
            "ran": self.ran,
            "revision": self.revision,
            "kept": str(self.kept) if self.kept else None,
        }


def _ctx(settings: Settings) -> Context:
    return build_context(settings, migrate=False)  # works on old and damaged databases too


def backup_database(settings: Settings, file: Path, *, force: bool = False) -> BackupResult:
    ctx = _ctx(settings)
    try:
        name = faults.describe(ctx.engine.url)
        file = file.resolve()
        if file.exists() and not force:
            raise Conflict(f"{file} exists; choose another name, or add --force to replace it")
        source = backups.sqlite_file(ctx.engine.url)
        if source is None:
            return _pg_dump(ctx, name, file)
        if not source.exists():
            raise InvalidInput(f"{name} does not exist: nothing to back up")
        if file == source:
            raise InvalidInput(f"{file} is the database itself; back it up to another file")
        problems = _guard(lambda: backups.copy_sqlite(source, file, source_read_only=False), ctx)
        if problems:
            raise DatabaseFault(
                f"the copy of {name} fails SQLite's quick_check ({problems[0]}): the database is "
                f"damaged; no backup was written. {faults.DAMAGED_NEXT}"
            )
        revision, _ = backups.sqlite_revision(file)
        return BackupResult(name, file, file.stat().st_size, revision=revision)
    finally:
        ctx.engine.dispose()


def restore_database(settings: Settings, file: Path, *, force: bool = False) -> BackupResult:
    ctx = _ctx(settings)
    try:
        name = faults.describe(ctx.engine.url)
        file = file.resolve()
        if not file.is_file():
            raise InvalidInput(f"{file}: no such backup file")
        held = _holds_data(ctx)
        if held and not force:
            raise Conflict(
                f"{name} is not empty (it holds {held}); a restore replaces it: add --force "
                f"(a SQLite file is kept beside it under a new name)"
            )
        target = backups.sqlite_file(ctx.engine.url)
        with file.open("rb") as f:
            head = f.read(16)
        if target is None:
            if head[:5] != b"PGDMP":
                raise InvalidInput(f"{file} is not a pg_dump file (custom format); restore it with psql")
            command, env = backups.pg_restore_command(ctx.engine.url, file, clean=bool(held))
            return _run_pg(name, command, env, file=file)
        if head != b"SQLite format 3\x00":
            raise InvalidInput(f"{file} is not a SQLite database (a PostgreSQL dump goes to pg_restore)")
        revision, problems = _guard(lambda: backups.sqlite_revision(file), None, file)
        if problems:
            raise InvalidInput(f"{file} fails SQLite's quick_check ({problems[0]}): choose another backup")
        if revision is None:
            raise InvalidInput(f"{file} has no migration record: it is not an OpenChargeback database")
        if not backups.known_revision(revision):
            raise InvalidInput(
                f"{file} is at schema revision {revision}, which this version does not know (a newer "
                f"version made it): restore it with that version"
            )
        ctx.engine.dispose()  # no connection of ours stays on the file being replaced
        kept = None
        if target.exists():
            stamp = ctx.clock().strftime("%Y%m%dT%H%M%SZ")
            kept = backups.move_aside(target, f"before-restore-{stamp}")
        problems = _guard(lambda: backups.copy_sqlite(file, target), None, file)
        if problems:  # read-only source passed quick_check a moment ago: never expected
            raise DatabaseFault(f"the restored copy of {file} fails quick_check ({problems[0]})")
        return BackupResult(name, file, target.stat().st_size, revision=revision, kept=kept)
    finally:
        ctx.engine.dispose()


def _holds_data(ctx: Context) -> str:
    """What the database holds, in words ('' when empty, or missing)."""
    path = backups.sqlite_file(ctx.engine.url)
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        return ""
    try:
        with ctx.read() as conn:
            tables = maintenance.holds_data(conn)
    except Exception as exc:  # a damaged file is not empty: --force replaces it
        fault = faults.fault_of(exc, ctx.engine.url)
        if fault is None:
            raise
        return "a file that cannot be read: " + fault.message.split(";")[0]
    if not tables:
        return ""
    return (
        "rows in "
        + ", ".join(tables[:5])
        + (f" and {len(tables) - 5} more tables" if len(tables) > 5 else "")
    )


def _guard(action, ctx: Context | None, file: Path | None = None):
    """Run a raw sqlite3 step, turning its driver errors into one message."""
    try:
        return action()
    except Exception as exc:
        fault = faults.fault_of(exc, ctx.engine.url if ctx else f"sqlite:///{file}")
        if fault is None:
            raise
        raise fault from exc


def _pg_dump(ctx: Context, name: str, file: Path) -> BackupResult:
    """pg_dump into a temporary name, renamed when it succeeded: FILE is whole or absent."""
    command, env = backups.pg_dump_command(ctx.engine.url, file)
    if shutil.which(command[0]) is None:
        return _run_pg(name, command, env, file=file)  # prints the command to run
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    try:
        result = _run_pg(name, *backups.pg_dump_command(ctx.engine.url, tmp), file=tmp, shown=command)
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    return replace(result, file=file)


def _run_pg(
    name: str, command: list[str], env: dict[str, str], *, file: Path, shown: list[str] | None = None
) -> BackupResult:
    said_command = shlex.join(shown or command)
    shown_text = f"PGPASSWORD=... {said_command}" if env else said_command
    if shutil.which(command[0]) is None:
        return BackupResult(name, file, None, command=shown_text, ran=False)
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode:
        said = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise DatabaseFault(
            f"{command[0]} failed for {name} (exit {done.returncode}: {said[-1]}); "
            f"the command was: {shown_text}"
        )
    return BackupResult(name, file, file.stat().st_size if file.exists() else None, command=shown_text)


__all__ = ["BackupResult", "backup_database", "restore_database"]
