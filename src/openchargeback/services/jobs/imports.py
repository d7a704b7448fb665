"""Web imports as background jobs.

An upload is written (size-limited) into its own directory under
``server.data_dir``; a job row records it; a worker thread of this process runs the
ordinary ingest service on it and stores the result. Progress (rows read) is kept in
memory by the process that runs the job; other processes see the job's status only.
The uploaded file is removed when the job ends: the import keeps its SHA-256.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import secrets
import shutil
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection

from openchargeback.domain.errors import FileRefused, InvalidInput, NotFound, OpenChargebackError
from openchargeback.domain.periods import Period
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.insights import refresh
from openchargeback.storage import jobs as repo
from openchargeback.storage import sources as sources_repo
from openchargeback.storage.types import AnyRow

EXTENSIONS = (".csv", ".csv.gz", ".parquet")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PERIOD_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_]?(0[1-9]|1[0-2])(?!\d)")
STALLED_AFTER = timedelta(hours=6)


class TooLarge(OpenChargebackError):
    http_status = 413


@dataclass(frozen=True)
class Guess:
    source: str | None
    period: str | None


@dataclass(frozen=True)
class JobView:
    id: int
    status: str  # queued | running | done | failed
    actor: str
    filename: str | None
    size_bytes: int | None
    rows_read: int
    params: dict
    result: dict | None
    error: str | None
    import_id: int | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def guess(ctx: Context, filename: str) -> Guess:
    """Source by the sources' file patterns, period by a YYYY-MM (or YYYYMM) in the name."""
    name = Path(filename).name.lower()
    with ctx.read() as conn:
        patterns = [(r.name, r.file_pattern) for r in sources_repo.list_all(conn) if r.file_pattern]
    # the longest matching pattern wins (it_storage_*.csv before storage_*.csv)
    hits = sorted((p for p in patterns if _matches(name, p[1])), key=lambda p: -len(p[1]))
    m = _PERIOD_IN_NAME.search(name)
    return Guess(hits[0][0] if hits else None, f"{m.group(1)}-{m.group(2)}" if m else None)


def _matches(name: str, pattern: str) -> bool:
    pattern = pattern.lower()
    if fnmatch.fnmatchcase(name, pattern):
        return True
    for ext in (".gz", ".parquet"):  # aws_*.csv also matches aws_2025-01.csv.gz
        if name.endswith(ext) and fnmatch.fnmatchcase(name.removesuffix(ext), pattern):
            return True
    return pattern.endswith(".csv") and fnmatch.fnmatchcase(name, pattern[:-4] + ".parquet")


class Upload:
    """A file being received into its own directory under data_dir, size-limited."""

    def __init__(self, ctx: Context, filename: str):
        name = _SAFE.sub("_", Path(filename.replace("\\", "/")).name).lstrip(".")[:200]
        if not name or not name.lower().endswith(EXTENSIONS):
            raise InvalidInput(f"file {filename!r}: expected a .csv, .csv.gz or .parquet file")
        root = Path(ctx.settings.server.data_dir).resolve()
        folder = root / "uploads" / secrets.token_hex(8)
        folder.mkdir(parents=True)
        self.path = folder / name
        if self.path.resolve().parent != folder:  # never outside the data directory
            raise InvalidInput(f"file name {filename!r} is not allowed")
        self.limit = ctx.settings.server.max_upload_mb * 1024 * 1024
        self.size = 0
        self._fh = open(self.path, "wb")  # noqa: SIM115

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise TooLarge(
                f"upload larger than server.max_upload_mb "
                f"({self.limit // (1024 * 1024)} MB); import it with the CLI instead"
            )
        self._fh.write(chunk)

    def close(self) -> Path:
        self._fh.close()
        if self.size == 0:
            self.discard()
            raise InvalidInput(f"{self.path.name} is empty")
        return self.path

    def discard(self) -> None:
        self._fh.close()
        shutil.rmtree(self.path.parent, ignore_errors=True)


class Runner:
    """One worker thread per process: imports run one at a time, like the CLI's."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocb-import")
        self._progress: dict[int, int] = {}
        self._lock = threading.Lock()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"[:100]

    def rows(self, job_id: int) -> int | None:
        with self._lock:
            return self._progress.get(job_id)

    def _set(self, job_id: int, rows: int) -> None:
        with self._lock:
            self._progress[job_id] = rows

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


def start_import(
    ctx: Context,
    runner: Runner,
    path: Path,
    source: str,
    period: str | None,
    *,
    replace: bool = False,
    skip_invalid: bool = False,
    ip: str | None = None,
) -> int:
    """Record a job for an uploaded file and queue it; returns the job id."""
    period = Period.parse(period).name if period else None
    with ctx.read() as conn:
        try:
            lookup.source(conn, source or "")
        except NotFound:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
    params = {"source": source.lower(), "period": period, "replace": replace, "skip_invalid": skip_invalid}
    with ctx.write() as conn:
        job_id = repo.create(
            conn,
            {
                "kind": "import",
                "status": "queued",
                "actor": ctx.actor,
                "params": json.dumps(params),
                "filename": path.name,
                "size_bytes": path.stat().st_size,
                "rows_read": 0,
                "created_at": ctx.clock(),
                "worker": runner.worker,
            },
        )
        audit.record_in(
            conn,
            ctx,
            "import.start",
            path.name,
            f"job #{job_id}; source {source}, period {period or '-'}"
            + (", replace" if replace else "")
            + (", skip invalid" if skip_invalid else ""),
            ip,
        )
    runner.submit(_run, ctx, runner, job_id, path, params)
    return job_id


def _run(ctx: Context, runner: Runner, job_id: int, path: Path, params: dict) -> None:
    with ctx.write() as conn:
        repo.set_values(conn, job_id, status="running", started_at=ctx.clock())
    runner._set(job_id, 0)
    try:
        result = ingest(
            ctx,
            path,
            params["source"],
            params["period"],
            replace=params["replace"],
            skip_invalid=params["skip_invalid"],
            progress=lambda rows, _size: runner._set(job_id, rows),
        )
    except OpenChargebackError as exc:
        problems = (
            [p.describe(path.name) for p in getattr(exc, "problems", [])[:50]]
            if isinstance(exc, FileRefused)
            else []
        )
        _finish(
            ctx,
            job_id,
            "failed",
            error=exc.message,
            result={"problems": problems} if problems else None,
            rows=runner.rows(job_id),
        )
    except Exception as exc:  # a fault, not a user mistake: keep the job honest
        _finish(
            ctx,
            job_id,
            "failed",
            error=f"internal error: {type(exc).__name__}: {exc}",
            rows=runner.rows(job_id),
        )
    else:
        _finish(ctx, job_id, "done", result=result.as_json(), import_id=result.import_id, rows=result.rows)
        # dashboards answer at once; on failure the next page view rebuilds the rollup
        with contextlib.suppress(Exception):
            refresh(ctx)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
        with runner._lock:
            runner._progress.pop(job_id, None)


def _finish(
    ctx: Context, job_id: int, status: str, *, result=None, error=None, import_id=None, rows=None
) -> None:
    with ctx.write() as conn:
        job = _job_row(conn, job_id)
        repo.set_values(
            conn,
            job_id,
            status=status,
            finished_at=ctx.clock(),
            error=error,
            result=json.dumps(result) if result is not None else None,
            import_id=import_id,
            rows_read=rows or 0,
        )
        what = (
            f"import #{import_id}"
            if import_id
            else (
                "duplicate, nothing changed"
                if result and result.get("status") == "duplicate"
                else (error or "")[:500]
            )
        )
        audit.record_in(
            conn, ctx.as_actor(job.actor), f"import.{status}", job.filename, f"job #{job_id}: {what}"
        )


def _view(row, rows_live: int | None, now: datetime) -> JobView:
    status = row.status
    error = row.error
    if status in ("queued", "running") and now - row.created_at > STALLED_AFTER and rows_live is None:
        status, error = "failed", "the server that ran this import stopped before it finished"
    return JobView(
        row.id,
        status,
        row.actor,
        row.filename,
        row.size_bytes,
        rows_live if rows_live is not None else row.rows_read,
        json.loads(row.params),
        json.loads(row.result) if row.result else None,
        error,
        row.import_id,
        row.created_at,
        row.finished_at,
    )


def _job_row(conn: Connection, job_id: int) -> AnyRow:
    row = repo.get(conn, job_id)
    if row is None:
        raise NotFound(f"import job #{job_id} does not exist")
    return row


def get_job(ctx: Context, runner: Runner | None, job_id: int) -> JobView:
    with ctx.read() as conn:
        row = _job_row(conn, job_id)
    return _view(row, runner.rows(job_id) if runner else None, ctx.clock())


def recent_jobs(ctx: Context, runner: Runner | None, limit: int = 10) -> list[JobView]:
    with ctx.read() as conn:
        rows = repo.recent(conn, limit)
    now = ctx.clock()
    return [_view(r, runner.rows(r.id) if runner else None, now) for r in rows]
