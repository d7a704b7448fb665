"""A job that meets a fault of the database records the one message the CLI would print
(services.database.fault_of), not the driver's text."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import threading
import time

import pytest

from conftest import INPUTS
from openchargeback.services import jobs
from openchargeback.services.jobs import imports, queue
from openchargeback.storage import db


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_import_job_whose_database_stays_locked_records_the_fault_message(
    db_url, make_ctx, tmp_path, monkeypatch
):
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 1000)
    ctx = make_ctx(db_url)
    upload = tmp_path / "uploads" / "one" / "aws_2025-01.csv"
    upload.parent.mkdir(parents=True)
    shutil.copy(INPUTS / "aws_2025-01.csv", upload)
    job_id = imports.start_import(ctx, upload, "aws", None)
    held = threading.Event()

    def hold() -> None:  # another process's long write, announced by nobody
        holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(3.5)
        holder.execute("ROLLBACK")
        holder.close()

    def run_locked(ctx, params, progress):
        t = threading.Thread(target=hold, daemon=True)
        t.start()
        held.wait(10)
        return imports.KIND.run(ctx, params, progress)

    kinds = {"import": dataclasses.replace(imports.KIND, run=run_locked)}
    assert jobs.Worker(ctx, kinds=kinds).run_once()
    job = queue.get_job(ctx, job_id)
    assert job.status == "failed"
    path = db_url.removeprefix("sqlite:///")
    assert job.error.startswith(f"database file {path} stayed locked by another process"), job.error
    assert "nothing was written" in job.error and "internal error" not in job.error
    assert "OperationalError" not in job.error
