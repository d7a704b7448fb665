"""Shared fixtures: real SQLite files and a real PostgreSQL (one fresh schema per test),
contexts, the CLI in process, and snapshots.

PostgreSQL comes from $OPENCHARGEBACK_TEST_PG (default: the local server). When it is
unreachable its tests are skipped, unless $OPENCHARGEBACK_REQUIRE_PG=1 (as in CI),
which turns that into a failure.

Tests read nothing outside the repository: sample files come from sample_data/.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = ROOT / "sample_data"
INPUTS = SAMPLE_DATA / "inputs"
PG_URL = os.environ.get("OPENCHARGEBACK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("OPENCHARGEBACK_REQUIRE_PG") == "1"

DEFAULT_SOURCES = [
    {"name": "aws", "display_name": "Amazon Web Services", "file_pattern": "aws_*.csv"},
    {"name": "azure", "display_name": "Microsoft Azure", "file_pattern": "azure_*.csv"},
    {"name": "hpc", "display_name": "HPC Cluster", "cost_basis": "billed"},
    {"name": "storage", "display_name": "Research Storage"},
    {"name": "it_storage", "display_name": "IT Secure Storage"},
    {"name": "focus", "display_name": "FinOps sample"},
]

_pg_ok: bool | None = None


def _pg_available() -> bool:
    global _pg_ok
    if _pg_ok is None:
        try:
            eng = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with eng.connect() as conn:
                conn.execute(text("select 1"))
            eng.dispose()
            _pg_ok = True
        except Exception:
            _pg_ok = False
    return _pg_ok


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A database URL for an empty database, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/billing.db"
        return
    if not _pg_available():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (OPENCHARGEBACK_REQUIRE_PG=1) but {PG_URL} is unreachable")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/billing.db"


def settings_dict(url: str, **extra) -> dict:
    d = {"database": {"url": url}, "sources": DEFAULT_SOURCES}
    d.update(extra)
    return d


@pytest.fixture
def make_ctx():
    """make_ctx(url, **settings) -> a services Context on that database."""
    from openchargeback.config import Settings
    from openchargeback.services.context import build_context

    made = []

    def make(url: str, actor: str = "tester", **extra):
        ctx = build_context(Settings.model_validate(settings_dict(url, **extra)), actor=actor)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.engine.dispose()


@pytest.fixture
def ctx(db_url, make_ctx):
    return make_ctx(db_url)


@pytest.fixture
def write_config(tmp_path):
    """write_config(url, **settings) -> path of a YAML config file."""

    def write(url: str, **extra) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(settings_dict(url, **extra)))
        return path

    return write


@pytest.fixture
def run_cli():
    """run_cli(*args) -> (exit code, stdout, stderr), in process."""
    from openchargeback.cli.app import main

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, out.getvalue(), err.getvalue()

    return run


def pytest_collection_modifyitems(config, items):
    """The property-test modules (``test_*_properties.py``: Hypothesis, many examples
    each, most on a database) are slow, so ``-m "not slow"`` leaves them out of the
    quick loop. Other long tests carry ``pytest.mark.slow`` themselves."""
    for item in items:
        if item.path.name.endswith("_properties.py"):
            item.add_marker(pytest.mark.slow)


def pytest_addoption(parser):
    parser.addoption(
        "--snapshot-update",
        action="store_true",
        default=False,
        help="Rewrite the snapshot files of document tests instead of comparing with them.",
    )


# -- snapshots ------------------------------------------------------------------------------------
# What changes from run to run in a written document, replaced before comparing.
_NORMALISE = [
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?"), "<DATETIME>"),
    (re.compile(r"<[^<>@\s]+@[^<>@\s]+>"), "<MESSAGE-ID>"),
    (re.compile(r"\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4}\b"), "<DATE>"),
    (re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"), "<DATE>"),
]


def normalise(text: str) -> str:
    """Date-times, dates and message ids replaced by placeholders."""
    for pattern, repl in _NORMALISE:
        text = pattern.sub(repl, text)
    return text


@pytest.fixture
def snapshot(request):
    """snapshot(name, text): compare ``text`` (normalised) with the file NAME in the
    ``snapshots/`` folder beside the test module; ``pytest --snapshot-update`` rewrites it."""
    update = request.config.getoption("--snapshot-update")
    folder = Path(request.node.path).parent / "snapshots"

    def check(name: str, text: str) -> None:
        path = folder / name
        text = normalise(text)
        if update or not path.exists():
            folder.mkdir(exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            if not update:
                pytest.fail(f"snapshot {name} did not exist; written, check it in")
            return
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"snapshot {name} differs; run pytest --snapshot-update if intended"

    return check
