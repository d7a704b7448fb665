"""Web imports as background jobs.

An upload is written (size-limited) into its own directory under
``server.data_dir``; a job row records it; a worker (:mod:`.runner`) runs the ordinary
ingest service on it and stores the result. The uploaded file is removed when the job
ends: the import keeps its SHA-256.
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from openchargeback.domain.errors import FileRefused, InvalidInput, NotFound, OpenChargebackError
from openchargeback.domain.periods import Period
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.services.ingest.guards import matches
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.insights import refresh
from openchargeback.services.jobs import queue
from openchargeback.services.jobs.kinds import Failed, Kind, Progress
from openchargeback.services.jobs.queue import JobView
from openchargeback.storage import jobs as repo
from openchargeback.storage import sources as sources_repo
from openchargeback.storage.types import AnyRow

EXTENSIONS = (".csv", ".csv.gz", ".parquet")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PERIOD_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_]?(0[1-9]|1[0-2])(?!\d)")


class TooLarge(OpenChargebackError):
    http_status = 413


@dataclass(frozen=True)
class Guess:
    source: str | None
    period: str | None


def guess(ctx: Context, filename: str) -> Guess:
    """Source by the sources' file patterns, period by a YYYY-MM (or YYYYMM) in the name."""
    name = Path(filename).name.lower()
    with ctx.read() as conn:
        patterns = [(r.name, r.file_pattern) for r in sources_repo.list_all(conn) if r.file_pattern]
    # the longest matching pattern wins (it_storage_*.csv before storage_*.csv)
    hits = sorted((p for p in patterns if matches(name, p[1])), key=lambda p: -len(p[1]))
    m = _PERIOD_IN_NAME.search(name)
    return Guess(hits[0][0] if hits else None, f"{m.group(1)}-{m.group(2)}" if m else None)


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


def start_import(
    ctx: Context,
    path: Path,
    source: str,
    period: str | None,
    *,
    replace: bool = False,
    append: bool = False,
    source_ok: bool = False,
    skip_invalid: bool = False,
    ip: str | None = None,
) -> int:
    """Queue a job for an uploaded file; returns the job id."""
    period = Period.parse(period).name if period else None
    with ctx.read() as conn:
        try:
            lookup.source(conn, source or "")
        except NotFound:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
    params = {
        "path": str(path),
        "source": source.lower(),
        "period": period,
        "replace": replace,
        "append": append,
        "source_ok": source_ok,
        "skip_invalid": skip_invalid,
    }
    with ctx.write() as conn:
        job_id = queue.enqueue_in(
            conn, ctx, "import", params, period=period, filename=path.name, size_bytes=path.stat().st_size
        )
        audit.record_in(
            conn,
            ctx,
            "import.start",
            path.name,
            f"job #{job_id}; source {source}, period {period or '-'}"
            + (", replace" if replace else "")
            + (", append" if append else "")
            + (", source ok" if source_ok else "")
            + (", skip invalid" if skip_invalid else ""),
            ip,
        )
    queue.wake_local_workers(ctx)
    return job_id


def _run(ctx: Context, params: dict, progress: Progress) -> dict:
    path = Path(params["path"])
    if not path.is_file():
        raise Failed(
            f"the uploaded file {path.name} is not in server.data_dir on this worker's host; "
            f"workers on other hosts need the web's data_dir shared with them"
        )
    try:
        result = ingest(
            ctx,
            path,
            params["source"],
            params["period"],
            replace=params["replace"],
            append=params.get("append", False),  # jobs queued before these options existed
            source_ok=params.get("source_ok", False),
            skip_invalid=params["skip_invalid"],
            progress=lambda rows, _size: progress(rows, None),
        )
    except FileRefused as exc:
        found: list[Any] = exc.problems[:50]  # focus Problem records
        problems = [p.describe(path.name) for p in found]
        raise Failed(exc.web, {"problems": problems} if problems else None) from None
    return result.as_json()


def _finished(conn: Connection, ctx: Context, job: AnyRow, status: str, result, error) -> None:
    import_id = (result or {}).get("import_id") if status == "done" else None
    if import_id:
        repo.set_values(conn, job.id, import_id=import_id, progress=result.get("rows", job.progress))
    what = (
        f"import #{import_id}"
        if import_id
        else (
            "duplicate, nothing changed"
            if result and result.get("status") == "duplicate"
            else (error or "")[:500]
        )
    )
    audit.record_in(conn, ctx, f"import.{status}", job.filename, f"job #{job.id}: {what}")


def _after(ctx: Context, params: dict, status: str) -> None:
    shutil.rmtree(Path(params["path"]).parent, ignore_errors=True)  # the import keeps its SHA-256
    if status == "done":  # dashboards answer at once; else the next page view rebuilds them
        refresh(ctx)


# Safe to repeat: a second run of a file that was stored is a duplicate (its SHA-256).
KIND = Kind(_run, repeatable=True, finished=_finished, after=_after)


def get_job(ctx: Context, job_id: int) -> JobView:
    return queue.get_job(ctx, job_id, kinds=("import",))


def recent_jobs(ctx: Context, limit: int = 10) -> list[JobView]:
    return queue.recent_jobs(ctx, limit, kinds=("import",))
