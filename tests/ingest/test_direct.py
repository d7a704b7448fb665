"""Issue 21, PostgreSQL: the rows of a period new when the file's first batch is read are
COPYed straight into a table of their own, which the publish makes the period's
partition; the file's other rows go through the stage. What another import did
meanwhile (made the period, stored the same details) must not lose or misplace a row."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from focus_builders import row, write_csv
from openchargeback.domain.periods import Period
from openchargeback.focus import reader
from openchargeback.focus.reader import FocusFile
from openchargeback.services.ingest import loading
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import staging

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _file(path, period: str, rows: int, cost: str = "1.25"):
    return write_csv(
        path,
        [row(period, cost=cost, ServiceName=f"Service {i % 40}", ResourceId=f"r-{i}") for i in range(rows)],
    )


def _ledger(ctx) -> dict:
    with ctx.read() as conn:
        return {
            "per_period": dict(
                conn.execute(
                    text(
                        "SELECT p.name, count(*) FROM charges c JOIN periods p ON p.id = c.period_id "
                        "GROUP BY p.name"
                    )
                ).all()
            ),
            "backwards": conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT line, lag(line) OVER (PARTITION BY import_id ORDER BY id) "
                    "AS before FROM charges) x WHERE line < before"
                )
            ).scalar_one(),
            "dangling": conn.execute(
                text(
                    "SELECT count(*) FROM charges c WHERE NOT EXISTS "
                    "(SELECT 1 FROM charge_details d WHERE d.id = c.detail_id) OR (c.tag_set_id IS NOT NULL "
                    "AND NOT EXISTS (SELECT 1 FROM tag_sets t WHERE t.id = c.tag_set_id))"
                )
            ).scalar_one(),
            "own_tables": conn.execute(
                text("SELECT count(*) FROM pg_class WHERE relname LIKE 'charges_import_%'")
            ).scalar_one(),
            "partitions": sorted(
                conn.execute(
                    text(
                        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = 'charges'::regclass"
                    )
                ).scalars()
            ),
        }


def test_a_new_periods_rows_go_straight_to_its_partition_the_others_through_the_stage(
    ctx, tmp_path, monkeypatch
):
    """The first batch is all 2025-01 (new): its rows, and 2025-01's rows of the later
    mixed batches, are copied into 2025-01's table; 2025-02's rows are staged."""
    monkeypatch.setattr(reader, "BLOCK_SIZE", 4096)  # Arrow's blocks make the batches
    monkeypatch.setitem(FocusFile.__init__.__kwdefaults__, "batch_size", 100)
    rows = [row("2025-01", cost="1.25", ResourceId=f"a-{i}") for i in range(150)]
    rows += [row("2025-02" if i % 2 else "2025-01", cost="2.50", ResourceId=f"b-{i}") for i in range(150)]
    path = write_csv(tmp_path / "aws_mixed.csv", rows)
    direct, staged = [], []
    for name, seen in (("_copy_direct", direct), ("_write_rows", staged)):
        real = getattr(staging.PostgresStage, name)

        def spy(self, columns, *rest, _real=real, _seen=seen):
            _seen.append(len(columns["line"]))
            return _real(self, columns, *rest)

        monkeypatch.setattr(staging.PostgresStage, name, spy)
    result = loading.ingest(ctx, path, "aws")
    assert sum(direct) == 225 and sum(staged) == 75
    billed = next(t for t in result.totals if t.column == "BilledCost")
    assert billed.file_total == billed.stored_total
    got = _ledger(ctx)
    assert got["per_period"] == {"2025-01": 225, "2025-02": 75}
    assert got["backwards"] == got["dangling"] == got["own_tables"] == 0
    assert got["partitions"] == ["charges_2025_01", "charges_2025_02"]


def test_a_period_and_details_made_meanwhile_by_another_import(ctx, make_ctx, db_url, tmp_path, monkeypatch):
    """Between the first batch (2025-01 new: its own table, the period's id taken) and the
    publish, another import of the same period and services commits. The period is the
    other's: its partition takes the rows; the details are the other's: the rows that
    held the ids taken for them hold the other's."""
    mine, theirs = (
        _file(tmp_path / "aws_a.csv", "2025-01", 500),
        _file(tmp_path / "aws_b.csv", "2025-01", 300, "3"),
    )
    other = make_ctx(db_url)
    real = loading.periods_repo.get_or_create
    raced: list[int] = []

    def racing(conn, period, *args, **kw):
        if not raced:  # once: the other import runs to its commit first
            raced.append(0)
            raced[0] = loading.ingest(other, theirs, "aws", append=True).rows
        return real(conn, period, *args, **kw)

    monkeypatch.setattr(loading.periods_repo, "get_or_create", racing)
    result = loading.ingest(ctx, mine, "aws", append=True)
    assert raced == [300] and result.rows == 500
    billed = next(t for t in result.totals if t.column == "BilledCost")
    assert billed.file_total == billed.stored_total
    got = _ledger(ctx)
    assert got["per_period"] == {"2025-01": 800}
    assert got["backwards"] == got["dangling"] == got["own_tables"] == 0
    assert got["partitions"] == ["charges_2025_01"]
    with ctx.read() as conn:
        services = conn.execute(
            text(
                "SELECT count(DISTINCT detail_id), count(*) FROM charges "
                "GROUP BY import_id ORDER BY import_id"
            )
        ).all()
        stored = conn.execute(text("SELECT count(*) FROM charge_details")).scalar_one()
    assert sorted(tuple(r) for r in services) == [(40, 300), (40, 500)]  # the same 40 details
    assert stored == 40


def test_a_period_taken_with_its_id_while_another_makes_it_is_the_others(ctx, db_url, tmp_path):
    """The import's insert of the period under the id it took waits for another's insert
    of the same period, uncommitted; when that one commits, the period is the other's
    (an insert that did nothing once reported the id it was given, and the period's
    history was written for a period that does not exist)."""
    period, now = Period.parse("2025-03"), ctx.clock()
    engine = create_engine(db_url)
    got: list = []
    try:
        with engine.connect() as first:
            made = periods_repo.get_or_create(first, period, "first", now)

            def second() -> None:
                with engine.begin() as conn:
                    (taken,) = conn.exec_driver_sql("SELECT nextval('periods_id_seq')").scalars()
                    got.append((taken, periods_repo.get_or_create(conn, period, "second", now, taken).id))

            t = threading.Thread(target=second)
            t.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    if conn.exec_driver_sql(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    ).scalar_one():
                        break
                time.sleep(0.05)
            first.commit()
            t.join(timeout=30)
    finally:
        engine.dispose()
    ((taken, returned),) = got
    assert returned == made.id != taken
