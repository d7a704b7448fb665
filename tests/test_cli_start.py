"""The CLI starts light: a command loads its own module and what that needs, nothing
else; `--version` and `--help` load no subcommand. Checked on sys.modules in a fresh
interpreter (not timed: bench/cli_start.py times it)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap

import pytest
import typer

import openchargeback.cli
from openchargeback.cli import app as cli_app
from openchargeback.storage import db

HEAVY = ("pyarrow", "numpy", "alembic", "fastapi", "uvicorn", "weasyprint", "jinja2", "argon2")


_REPORT = """
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
cli = sorted(m for m in sys.modules if m.startswith("openchargeback.cli."))
print(json.dumps({"heavy": heavy, "cli": cli, "out": out.getvalue()}))
"""


def _modules_after(code: str) -> dict:
    """Run `code` in a fresh interpreter, its stdout captured; returns the heavy
    libraries and the openchargeback.cli modules it imported, and its output."""
    body = textwrap.indent(textwrap.dedent(code).strip(), " " * 8)
    script = (
        f"import contextlib, io, json, sys\nHEAVY = {HEAVY!r}\nout = io.StringIO()\n"
        f"with contextlib.redirect_stdout(out):\n    try:\n{body}\n"
        f"    except SystemExit:\n        pass\n{_REPORT}"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_version_imports_no_heavy_library_and_no_subcommand():
    seen = _modules_after("""
        import typer
        from openchargeback.cli.app import app, main
        typer.main.get_command(app)
        main(["--version"])
    """)
    assert seen["heavy"] == [], seen["heavy"]
    assert seen["cli"] == ["openchargeback.cli.app"], seen["cli"]
    assert seen["out"].startswith("openchargeback ")


def test_help_lists_every_command_without_loading_one():
    seen = _modules_after("""
        from openchargeback.cli.app import main
        main(["--help"])
    """)
    assert seen["heavy"] == [] and seen["cli"] == ["openchargeback.cli.app"], seen
    for name, *_ in cli_app.COMMANDS:
        assert f" {name} " in seen["out"], name


def test_a_command_loads_only_its_own_module():
    seen = _modules_after("""
        from openchargeback.cli.app import main
        main(["report", "--help"])
    """)
    assert seen["cli"] == [
        "openchargeback.cli.app",
        "openchargeback.cli.common",
        "openchargeback.cli.reports",
    ], seen["cli"]
    assert seen["heavy"] == [], seen["heavy"]


def test_the_static_table_matches_the_commands():
    """Names, modules and help of COMMANDS are those of the commands they load, and
    every Typer app of the cli modules is reachable from the table."""
    group = typer.main.get_command(cli_app.app)
    for name, _module, _attribute, help_text in cli_app.COMMANDS:
        command = group.commands[name]
        assert command.name == name
        assert (command.short_help or command.help) == help_text, name
    reachable = set()

    def walk(t: typer.Typer) -> None:
        reachable.add(id(t))
        for info in t.registered_groups:
            walk(info.typer_instance)

    modules = [
        importlib.import_module(f"openchargeback.cli.{m.name}")
        for m in pkgutil.iter_modules(openchargeback.cli.__path__)
    ]
    for _, module, attribute, _ in cli_app.COMMANDS:
        target = getattr(importlib.import_module(f"openchargeback.cli.{module}"), attribute)
        if isinstance(target, typer.Typer):
            walk(target)
    for mod in modules:
        for attr, value in vars(mod).items():
            if isinstance(value, typer.Typer) and value is not cli_app.app:
                assert id(value) in reachable, f"{mod.__name__}.{attr} is not in cli.app.COMMANDS"


def test_unknown_command_still_suggests_a_near_one(run_cli):
    code, _, err = run_cli("repor")
    assert code == 2 and "Did you mean 'report'?" in err


def test_head_revision_constant_is_the_migrations_head():
    from alembic.script import ScriptDirectory

    from openchargeback.storage.db import MIGRATIONS

    script = ScriptDirectory(str(MIGRATIONS))
    assert script.get_current_head() == db.HEAD_REVISION, (
        "a migration was added: set storage.db.HEAD_REVISION to its revision"
    )


def test_up_to_date_database_opens_without_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'billing.db'}"
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys
        from openchargeback.storage import db
        engine = db.make_engine({url!r})
        db.ensure_schema(engine)
        print("alembic" in sys.modules)
    """),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


@pytest.mark.parametrize("stamp", ["older", None])
def test_cheap_check_falls_back_to_alembic(tmp_path, stamp):
    """An old revision is still refused, an empty alembic_version still migrated."""
    from sqlalchemy import text

    from openchargeback.domain.errors import ConfigError

    engine = db.make_engine(f"sqlite:///{tmp_path / 'billing.db'}")
    try:
        db.upgrade(engine)
        with engine.begin() as conn:
            if stamp:
                conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": stamp})
            else:
                conn.execute(text("DELETE FROM alembic_version"))
        with pytest.raises(ConfigError) as caught:
            db.ensure_schema(engine)
        if stamp:
            assert "schema revision older" in caught.value.message
            assert "openchargeback db upgrade" in caught.value.message
        else:
            assert "not an OpenChargeback database" in caught.value.message
    finally:
        engine.dispose()
