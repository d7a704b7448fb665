"""Issue 21, PostgreSQL: the rows of a period new when the file's first batch is read are
COPYed straight into a table of their own, which the publish makes the period's
partition; the file's other rows go through the stage. What another import did
meanwhile (made the period, stored the same details) must not lose or misplace a row."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text

from focus_builders import row, write_csv
from openchargeback.domain.errors import FileRefused
from openchargeback.domain.periods import Period
from openchargeback.focus import reader
from openchargeback.focus.reader import FocusFile
from openchargeback.services.ingest import loading
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import staging
from pg_sessions import wait_for_sessions

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
                    conn.exec_driver_sql("SELECT set_config('application_name', 'period-race', false)")
                    (taken,) = conn.exec_driver_sql("SELECT nextval('periods_id_seq')").scalars()
                    got.append((taken, periods_repo.get_or_create(conn, period, "second", now, taken).id))

            t = threading.Thread(target=second)
            t.start()
            # its session only: other tests' sessions may be waiting for locks too
            mine = "wait_event_type = 'Lock' AND application_name = 'period-race'"
            wait_for_sessions(engine, mine, timeout=30)
            first.commit()
            t.join(timeout=30)
    finally:
        engine.dispose()
    ((taken, returned),) = got
    assert returned == made.id != taken


def _batches_of_100(monkeypatch) -> None:
    monkeypatch.setattr(reader, "BLOCK_SIZE", 4096)  # Arrow's blocks make the batches
    monkeypatch.setitem(FocusFile.__init__.__kwdefaults__, "batch_size", 100)


@pytest.mark.parametrize("new_period", [True, False])
def test_the_rows_stream_through_one_copy_while_the_file_is_read(ctx, tmp_path, monkeypatch, new_period):
    """One COPY takes every batch's rows (the period's own table when the period is new,
    the stage otherwise): the server stores a batch while the next is read, instead of
    the read waiting for each batch's COPY to end."""
    _batches_of_100(monkeypatch)
    if not new_period:
        loading.ingest(ctx, _file(tmp_path / "aws_first.csv", "2025-01", 10), "aws")
    opened, writes = [], []
    real_init, real_write = staging._Stream.__init__, staging._Stream.write

    def init(self, raw, table, names):
        opened.append(table)
        real_init(self, raw, table, names)

    def write(self, data):
        writes.append(len(data))
        real_write(self, data)

    monkeypatch.setattr(staging._Stream, "__init__", init)
    monkeypatch.setattr(staging._Stream, "write", write)
    result = loading.ingest(ctx, _file(tmp_path / "aws_b.csv", "2025-01", 450, "2"), "aws", append=True)
    assert result.rows == 450
    assert len(opened) == 1 and opened[0].startswith("charges_import_" if new_period else "s_charges")
    assert len(writes) >= 4  # a write a batch, all into that one COPY
    billed = next(t for t in result.totals if t.column == "BilledCost")
    assert billed.file_total == billed.stored_total
    got = _ledger(ctx)
    assert got["per_period"] == {"2025-01": 450 if new_period else 460}
    assert got["backwards"] == got["dangling"] == got["own_tables"] == 0


def test_a_file_refused_after_its_rows_began_streaming_leaves_nothing(ctx, tmp_path, monkeypatch):
    """A bad row in a later batch is found while the rows' COPY is open: the COPY is
    ended with the error, the import rolls back (nothing of it stays, not the period's
    table) and the next import on the same connections works."""
    _batches_of_100(monkeypatch)
    rows = [row("2025-01", cost="1.25", ResourceId=f"r-{i}") for i in range(300)]
    rows[250]["BilledCost"] = "twelve"
    path = write_csv(tmp_path / "aws_bad.csv", rows)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            loading.ingest(ctx, path, "aws")
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=run, daemon=True)  # a COPY left open hangs the rollback
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():  # end its session, or the schema's teardown waits for its locks
        with ctx.engine.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'COPY \"charges_import_%%' AND pid <> pg_backend_pid()"
            )
        pytest.fail("the refused import never ended")
    (refused,) = raised
    assert isinstance(refused, FileRefused) and "aws_bad.csv:252: column BilledCost" in str(refused)
    with ctx.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM periods")).scalar_one() == 0
    assert _ledger(ctx)["own_tables"] == 0
    result = loading.ingest(ctx, _file(tmp_path / "aws_good.csv", "2025-01", 300), "aws")
    assert result.rows == 300 and _ledger(ctx)["per_period"] == {"2025-01": 300}
