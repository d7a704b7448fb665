"""Issue 13, item 8: input is bounded. A gzip bomb, an overlong line, an oversized
Parquet value and overlong text values are refused naming what is wrong, and the
importing process's memory stays bounded (peak RSS of a real CLI subprocess)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT
from focus_builders import HEADER, count_rows, csv_text, row, write_csv
from openchargeback.domain.errors import FileRefused
from openchargeback.services.ingest.loading import ingest

RSS_LIMIT_MB = 450  # the CLI with pyarrow loaded peaks near 200 MB on an ordinary file


def run_cli_rss(config: Path, path: Path, *extra: str) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in MB) of `openchargeback ingest` in a subprocess."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "openchargeback", "ingest", str(path), "-s", "aws", "-c", str(config), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, usage.ru_maxrss // 1024


@pytest.fixture
def config(write_config, db_url):
    return write_config(db_url)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_gzip_bomb_of_one_giant_line_is_refused_with_bounded_memory(config, tmp_path):
    path = tmp_path / "aws_2025-01.csv.gz"
    head = csv_text([row()]).encode()
    with gzip.open(path, "wb", compresslevel=9) as gz:
        gz.write(head)
        block = b"a" * (1 << 20)
        for _ in range(600):  # a 600 MB line, about 600 KB compressed
            gz.write(block)
    assert path.stat().st_size < 2 << 20
    code, err, rss = run_cli_rss(config, path)
    assert code == 1 and "Traceback" not in err
    assert "line 3 is longer than 1,024 KB (ingest.max_line_kb)" in err
    assert rss < RSS_LIMIT_MB, rss


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_gzip_expanding_beyond_the_setting_is_refused(write_config, db_url, tmp_path):
    config = write_config(db_url, ingest={"max_expanded_mb": 2})
    path = tmp_path / "aws_2025-01.csv.gz"
    with gzip.open(path, "wb") as gz:
        gz.write(csv_text([row(ResourceId=f"r-{i}") for i in range(20_000)]).encode())  # ~5 MB
    code, err, _ = run_cli_rss(config, path)
    assert code == 1 and "expands to more than 2 MB of text (ingest.max_expanded_mb)" in err


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("statistics", [True, False])
def test_parquet_with_a_huge_value_is_refused_before_it_is_read(config, tmp_path, statistics):
    path = tmp_path / "aws_2025-01.parquet"
    # written by another process: a child forked from a process holding the value would
    # start with its memory, and ru_maxrss would count it
    script = (
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n"
        "from focus_builders import HEADER, row\n"
        "r = row(ResourceName='x' * (128 << 20))\n"  # 128 MB, a few KB compressed
        "pq.write_table(pa.table({h: [r[h]] for h in HEADER}), sys.argv[1], compression='zstd', "
        f"write_statistics={statistics})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, env=env, timeout=120)
    assert path.stat().st_size < 1 << 20
    code, err, rss = run_cli_rss(config, path)
    assert code == 1 and "Traceback" not in err
    assert "column ResourceName of row group 1" in err and "ingest.max_value_chars" in err
    assert rss < RSS_LIMIT_MB, rss


def test_overlong_values_refuse_the_row_naming_line_and_column(ctx, tmp_path):
    rows = [row(ResourceId=f"r-{i}") for i in range(5)]
    rows[2]["ResourceId"] = "r" * 5000
    path = write_csv(tmp_path / "aws_2025-01.csv", rows)
    with pytest.raises(FileRefused, match=r"aws_2025-01.csv:4: column ResourceId: .*at most 4,096 char"):
        ingest(ctx, path, "aws")
    assert count_rows(ctx, "charges") == 0
    r = ingest(ctx, path, "aws", skip_invalid=True)
    assert r.rows == 4 and r.skipped == 1


def test_parquet_values_are_checked_the_same_way(ctx, tmp_path):
    rows = [row(ResourceId=f"r-{i}") for i in range(5)]
    rows[1]["ChargeDescription"] = "d" * 4097
    header = [*HEADER, "ChargeDescription"]
    table = pa.table({h: [r.get(h, "") for r in rows] for h in header})
    path = tmp_path / "aws_2025-01.parquet"
    pq.write_table(table, path)
    with pytest.raises(FileRefused, match=r":3: column ChargeDescription: .*at most 4,096 characters"):
        ingest(ctx, path, "aws")
