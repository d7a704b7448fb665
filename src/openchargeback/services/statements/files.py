"""The output directory of statements: a copy of what the database holds, kept in step.

Every current version's PDF, and its detail CSV when it has one, is a file
``NUMBER-vN.pdf`` (``NUMBER-vN-detail.csv``) in ``statements.output_dir/PERIOD`` whose
SHA-256 is the one stored with the version. :func:`reconcile` (run by every ``generate``)
rewrites from the database whatever is missing, cut short or damaged; nothing is ever
rendered for it. :func:`check_statement_files` lists the same problems without touching
anything (``db check``). Versions that are superseded or withdrawn are not checked: their
files stay as they were, and the database keeps their documents.

A file is written under a temporary name in the same directory (``.NAME~HOST~PID.tmp``),
synced, then renamed over the target; the directory is synced after the renames, so that a
crash leaves either the old file, the new one or a temporary file, never a partial target.
A temporary file whose writer is gone (this host, a process that no longer runs) or that is
older than an hour is removed by the next ``generate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openchargeback.domain.errors import FilesNotWritten
from openchargeback.services.context import Context
from openchargeback.storage import statements as store

STALE_SECONDS = 3600  # a temporary file older than this has no writer left, whatever its name says
_CHUNK = 200  # documents read from the database at a time while repairing


@dataclass(frozen=True)
class Expected:
    statement_id: int
    name: str
    sha256: str
    size: int
    is_csv: bool


def expected(rows: Iterable[Any]) -> list[Expected]:
    """The files of current versions (rows of :func:`storage.statements.current_files`)."""
    out = []
    for r in rows:
        stem = f"{r.number}-v{r.version}"
        out.append(Expected(r.id, f"{stem}.pdf", r.pdf_sha256, int(r.pdf_size), False))
        if r.csv_sha256 is not None:
            out.append(Expected(r.id, f"{stem}-detail.csv", r.csv_sha256, int(r.csv_size), True))
    return out


def problem(directory: Path, e: Expected) -> str | None:
    """What is wrong with the file of ``e`` (None: it is the stored document)."""
    path = directory / e.name
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if len(content) != e.size:
        return f"has {len(content)} bytes, expected {e.size}"
    if hashlib.sha256(content).hexdigest() != e.sha256:
        return "differs from the stored document (SHA-256)"
    return None


def stale_temporaries(directory: Path) -> list[Path]:
    """Temporary files of writers that are gone."""
    if not directory.is_dir():
        return []
    host, now = socket.gethostname(), time.time()
    out = []
    for p in sorted(directory.glob(".*.tmp")):
        try:
            old = now - p.stat().st_mtime > STALE_SECONDS
        except FileNotFoundError:  # renamed by its writer meanwhile
            continue
        parts = p.name[1:-4].rsplit("~", 2)
        mine = len(parts) == 3 and parts[1] == host and parts[2].isdigit()
        if old or (mine and not _running(int(parts[2]))):
            out.append(p)
    return out


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a synced temporary file and a rename (the
    directory is synced by the caller, once for all its files: :func:`sync_directory`)."""
    tmp = path.with_name(f".{path.name}~{socket.gethostname()}~{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reconcile(ctx: Context, period: str, rows: Sequence[Any]) -> tuple[str, ...]:
    """Make the period's directory hold the files of ``rows`` (current versions, from
    :func:`storage.statements.current_files`) as stored: rewrite the missing or damaged
    ones from the database and remove stale temporary files. The names rewritten."""
    directory = Path(ctx.settings.statements.output_dir) / period
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for p in stale_temporaries(directory):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        bad = [e for e in expected(rows) if problem(directory, e) is not None]
        for i in range(0, len(bad), _CHUNK):
            part = bad[i : i + _CHUNK]
            with ctx.read() as conn:
                docs = store.documents(conn, sorted({e.statement_id for e in part}))
            for e in part:
                d = docs[e.statement_id]
                write_atomic(directory / e.name, bytes(d.detail_csv if e.is_csv else d.pdf))
        if bad:
            sync_directory(directory)
    except OSError as exc:
        stored = (
            f"the statements of period {period} are stored, but their files in {directory} were "
            f"not all written ({exc.strerror or exc}); free space or fix the permissions, then"
        )
        raise FilesNotWritten(
            f"{stored} run `openchargeback generate -p {period}`: it writes the missing files from "
            "the database",
            web=f"{stored} generate the statements again: that writes the missing files from the database",
        ) from None
    return tuple(e.name for e in bad)


def check_statement_files(ctx: Context) -> list[str]:
    """Every problem of the statement output directories, one message each: a current
    version's PDF or CSV missing, cut short or damaged, and temporary files left by a
    writer that is gone. Nothing is changed (``generate`` repairs them)."""
    with ctx.read() as conn:
        rows = store.current_files(conn)
    by_period: dict[str, list[Any]] = {}
    for r in rows:
        by_period.setdefault(r.period, []).append(r)
    out = []
    for period, items in by_period.items():
        directory = Path(ctx.settings.statements.output_dir) / period
        fix = f"`openchargeback generate -p {period}` rewrites it from the database"
        if items[0].period_status == "open":  # reopened: generate refuses until it is closed again
            fix += " once the period is closed again"
        for e in expected(items):
            what = problem(directory, e)
            if what is not None:
                out.append(f"statement file {directory / e.name} {what}; {fix}")
        for p in stale_temporaries(directory):
            out.append(
                f"statement folder {directory} holds {p.name}, left by a write that did not finish; "
                f"`openchargeback generate -p {period}` removes it"
            )
    return out
