"""Slurm conversion: the real 22.05 recordings and hand-made edge cases."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from sacct_builders import job, sacct, step

from openchargeback.convert.attribution import load_attribution
from openchargeback.convert.slurm import convert_slurm, mem_kib, parse_tres, run_sacct
from openchargeback.domain.errors import FileRefused, InvalidInput
from openchargeback.domain.periods import Period

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "sacct"
AMAP = load_attribution(ROOT / "sample_data" / "attribution" / "attribution.example.yaml")
PRICED = ("cpu", "gpu", "mem")


def usage(lines, **kw):
    kw.setdefault("amap", AMAP)
    kw.setdefault("priced", PRICED)
    return convert_slurm(lines, "test.txt", **kw)


def table_of(u):
    """{(account, partition, qos, resource, gpu type): quantity} of usage lines."""
    out = {}
    for x in u.lines:
        key = (x.account, x.partition, x.qos, x.resource, x.gpu_type)
        out[key] = out.get(key, D(0)) + x.quantity
    return out


def read(name):
    with open(FIXTURES / name) as f:
        return usage(f)


def test_real_recording_quantities():
    u = read("all_steps.txt")
    q = table_of(u)
    # genomics: job 1 (1 CPU x 4 s) + job 8 (2 CPUs x 8 s, cancelled while running) = 20 CPU-s
    assert q[("genomics", "cpu", "normal", "cpu", None)] == D("0.005556")
    # climate: job 2 (4 x 5 s) + job 6 (failed, 1 x 1 s) = 21 CPU-s
    assert q[("climate", "cpu", "normal", "cpu", None)] == D("0.005833")
    # physics on cpu: array tasks 5_1..5_3 (3+4+5 s) and job 9 (timeout, 82 s) = 94 CPU-s
    assert q[("physics", "cpu", "normal", "cpu", None)] == D("0.026111")
    # the two GPU types, each 1 GPU x 3 s; gres/gpu=1 beside the typed one is the same GPU
    assert q[("physics", "gpu", "normal", "gpu", "a100")] == D("0.000833")
    assert q[("climate", "gpu", "high", "gpu", "v100")] == D("0.000833")
    assert not any(k[3] == "gpu" and k[4] is None for k in q)
    # memory: job 1 500M x 4 s + job 8 1000M x 8 s = 10000 MiB-s
    assert q[("genomics", "cpu", "normal", "mem", None)] == D("0.002713")
    r = u.report
    assert r.records == 34 and r.used == 10
    assert r.skipped == {"job step (billed through its allocation)": 23, "never started": 1}
    assert all(x.period == Period(2026, 11) for x in u.lines)


def test_steps_are_not_double_counted():
    a, b = read("all_steps.txt"), read("allocations.txt")
    assert table_of(a) == table_of(b)
    assert b.report.skipped == {"never started": 1}


def test_attribution_by_account_then_user_and_unmapped_reported():
    u = read("allocations.txt")
    by = {(x.account, x.partition, x.resource, x.gpu_type): x for x in u.lines}
    assert by[("genomics", "cpu", "cpu", None)].project == "GEN-42"
    bob = by[("physics", "cpu", "cpu", None)]  # physics is unmapped, but bob is a mapped user
    assert bob.project == "PHYS-3" and ("slurm_user", "bob") in bob.ref.tags
    root_gpu = by[("physics", "gpu", "gpu", "a100")]  # root on physics: nobody knows
    assert root_gpu.project is None and root_gpu.ref.unmapped == "account physics"
    assert u.report.unmapped == {"account physics": 3}


def test_billable_states_are_configurable():
    u = read("allocations.txt")
    only = usage((FIXTURES / "allocations.txt").read_text().splitlines(True), billable=["COMPLETED"])
    assert only.report.skipped["state FAILED not billable"] == 1
    assert only.report.skipped["state TIMEOUT not billable"] == 1
    assert only.report.skipped["state CANCELLED not billable"] == 2  # 'CANCELLED by 0' x2
    assert only.report.used == u.report.used - 3


def test_job_crossing_a_month_end_is_split_at_the_boundary():
    rows = sacct(job("7", "2025-01-31T23:00:00", "2025-02-01T01:00:00", "cpu=2,mem=2G"))
    u = usage(rows)
    q = {(x.period.name, x.resource): x.quantity for x in u.lines}
    assert q == {
        ("2025-01", "cpu"): D("2"),
        ("2025-02", "cpu"): D("2"),
        ("2025-01", "mem"): D("2"),
        ("2025-02", "mem"): D("2"),
    }
    jan = usage(rows, period=Period(2025, 1))
    assert {(x.period.name, x.resource): x.quantity for x in jan.lines} == {
        ("2025-01", "cpu"): D("2"),
        ("2025-01", "mem"): D("2"),
    }
    feb_only = usage(sacct(job("8", "2025-02-02T00:00:00", "2025-02-02T01:00:00")), period=Period(2025, 1))
    assert feb_only.lines == [] and feb_only.report.skipped == {"outside the period": 1}


def test_per_job_rows_carry_the_job_and_its_piece():
    rows = sacct(job("7", "2025-01-31T23:30:00", "2025-02-01T00:30:00", "cpu=4", name="sim"))
    u = usage(rows, per_job=True)
    assert [(x.period.name, x.ref.resource_id, x.ref.resource_name, x.quantity) for x in u.lines] == [
        ("2025-01", "7", "sim", D("2")),
        ("2025-02", "7", "sim", D("2")),
    ]
    assert u.lines[0].ref.charge_end == datetime(2025, 2, 1, tzinfo=UTC)
    assert u.lines[1].ref.charge_start == datetime(2025, 2, 1, tzinfo=UTC)


def test_array_tasks_count_once_each_and_pending_arrays_not_at_all():
    rows = sacct(
        job("5_1", "2025-03-01T00:00:00", "2025-03-01T01:00:00", raw="10"),
        job("5_2", "2025-03-01T00:00:00", "2025-03-01T01:00:00", raw="11"),
        job("5_3", "2025-03-01T00:00:00", "2025-03-01T01:00:00", raw="5"),
        step("5_1.batch", "2025-03-01T00:00:00", "2025-03-01T01:00:00"),
        job("6_[1-3]", "None", "Unknown", state="PENDING", raw="6"),
        # the same allocation again, as when two exports are concatenated
        job("5_1", "2025-03-01T00:00:00", "2025-03-01T01:00:00", raw="10"),
    )
    u = usage(rows)
    assert table_of(u)[("genomics", "cpu", "normal", "cpu", None)] == D("3")
    assert u.report.skipped == {
        "job step (billed through its allocation)": 1,
        "state PENDING not billable": 1,
        "copy of an allocation listed in another line or file (merged: its latest state is billed)": 1,
    }


def test_cancelled_and_failed_jobs():
    rows = sacct(
        job("1", "None", "2025-03-01T00:00:05", "", state="CANCELLED by 0", cpus=8),
        job("2", "2025-03-01T00:00:00", "2025-03-01T00:30:00", state="CANCELLED by 1000"),
        job("3", "2025-03-01T00:00:00", "2025-03-01T00:30:00", state="FAILED"),
        job("4", "2025-03-01T00:00:00", "2025-03-01T00:30:00", state="NODE_FAIL"),
        job("5", "2025-03-01T00:00:00", "2025-03-01T00:00:00", state="COMPLETED"),
    )
    u = usage(rows)
    assert table_of(u)[("genomics", "cpu", "normal", "cpu", None)] == D("1")  # jobs 2 and 3
    assert u.report.skipped == {
        "never started": 1,
        "state NODE_FAIL not billable": 1,
        "no usage (zero elapsed time or no allocated resources)": 1,
    }


def test_running_job_billed_to_the_period_end_or_now():
    rows = sacct(job("9", "2025-03-31T22:00:00", "Unknown", state="RUNNING"))
    assert table_of(usage(rows, period=Period(2025, 3)))[("genomics", "cpu", "normal", "cpu", None)] == D("2")
    now = datetime(2025, 3, 31, 23, 0, tzinfo=UTC)
    assert table_of(usage(rows, now=now))[("genomics", "cpu", "normal", "cpu", None)] == D("1")


def test_gpus_of_two_types_typed_and_untyped():
    assert dict(parse_tres("cpu=4,gres/gpu:a100=1,gres/gpu:v100=2,gres/gpu=3")) == {
        ("cpu", None): 4,
        ("gpu", "a100"): 1,
        ("gpu", "v100"): 2,
    }
    assert dict(parse_tres("gres/gpu=2,cpu=1")) == {("gpu", None): 2, ("cpu", None): 1}
    assert dict(parse_tres("gres/gpu:a100=1,gres/gpu=2")) == {("gpu", "a100"): 1, ("gpu", None): 1}
    assert dict(parse_tres("energy=0,fs/disk=99,license/matlab=1,billing=6,node=1")) == {
        ("billing", None): 6,
        ("node", None): 1,
    }
    rows = sacct(
        job(
            "1",
            "2025-03-01T00:00:00",
            "2025-03-01T02:00:00",
            "cpu=2,gres/gpu:a100=1,gres/gpu:v100=1,gres/gpu=2",
            partition="gpu",
        )
    )
    q = table_of(usage(rows))
    assert q[("genomics", "gpu", "normal", "gpu", "a100")] == D("2")
    assert q[("genomics", "gpu", "normal", "gpu", "v100")] == D("2")


def test_memory_units():
    assert [mem_kib(x) for x in ("500M", "1G", "3200K", "1.5G", "1000Mc", "4000Mn", "2T", "100")] == [
        512000,
        1048576,
        3200,
        1572864,
        1024000,
        4096000,
        2 * 1024**3,
        102400,
    ]


def test_missing_account_is_emitted_and_reported():
    rows = sacct(job("1", "2025-03-01T00:00:00", "2025-03-01T01:00:00", account="", user="carol"))
    u = usage(rows)
    (cpu, mem) = u.lines
    assert cpu.project is None and cpu.ref.unmapped == "user carol"
    assert ("slurm_user", "carol") in cpu.ref.tags
    assert u.report.unmapped == {"user carol": 2}


def test_local_times_are_read_in_the_given_zone():
    # 00:30 local in Berlin on 1 February is 23:30 UTC on 31 January
    rows = sacct(job("1", "2025-02-01T00:30:00", "2025-02-01T01:30:00"))
    u = usage(rows, tz="Europe/Berlin")
    assert sorted({(x.period.name, x.quantity) for x in u.lines if x.resource == "cpu"}) == [
        ("2025-01", D("0.5")),
        ("2025-02", D("0.5")),
    ]
    with pytest.raises(InvalidInput, match="time zone 'Mars/Base' is unknown"):
        usage(rows, tz="Mars/Base")


def test_bad_lines_refuse_the_file_with_line_numbers_unless_skipped():
    rows = sacct(
        job("1", "2025-03-01T00:00:00", "2025-03-01T01:00:00"),
        "1|2|3",
        job("2", "yesterday", "2025-03-01T01:00:00"),
    )
    with pytest.raises(FileRefused) as e:
        usage(rows)
    assert "test.txt:3: 3 fields, the header has 18" in str(e.value)
    assert "test.txt:4: job 2: column Start: 'yesterday': expected a time such as 2026-01-31T23:59:59" in str(
        e.value
    )
    u = usage(rows, skip_invalid=True)
    assert u.report.used == 1 and len(u.report.problems) == 2


def test_pipe_in_a_job_name_is_recovered():
    line = job("1", "2025-03-01T00:00:00", "2025-03-01T01:00:00", name="a|b")
    u = usage(sacct(line))
    assert u.report.used == 1 and not u.report.problems


def test_not_sacct_output_and_missing_columns():
    with pytest.raises(InvalidInput, match="not sacct --parsable2 output"):
        usage(["JobID JobName\n"])
    with pytest.raises(InvalidInput, match="lacks column.*Start"):
        usage(["JobID|State|End|AllocTRES\n"])


def test_run_sacct_without_sacct_on_the_path(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InvalidInput, match="sacct is not on the PATH"):
        run_sacct(Period(2025, 1))


def test_run_sacct_reports_its_error(tmp_path, monkeypatch):
    fake = tmp_path / "sacct"
    fake.write_text("#!/bin/sh\necho 'sacct: error: Problem talking to the database' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InvalidInput, match="sacct exited with 1: sacct: error: Problem talking"):
        run_sacct(Period(2025, 1))


def test_run_sacct_asks_for_the_period_in_utc(tmp_path, monkeypatch):
    fake = tmp_path / "sacct"
    fake.write_text(f'#!/bin/sh\necho "TZ=$TZ $*" > {tmp_path}/args\ncat {FIXTURES}/allocations.txt\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    out = run_sacct(Period(2026, 11))
    assert out.startswith("JobID|JobIDRaw")
    args = (tmp_path / "args").read_text()
    assert args.startswith("TZ=UTC --parsable2 -a -X --format=JobID,")
    assert "-S 2026-11-01T00:00:00 -E 2026-12-01T00:00:00" in args
