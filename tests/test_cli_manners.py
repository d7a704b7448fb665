"""How the CLI speaks to a newcomer: refusal hints that run as printed (they repeat the
`-c FILE` given), one line and exit 1 for a busy port, `--help` without `<bool>` after
plain flags or `<list[Path]>`, and a header-only file said to hold no rows."""

from __future__ import annotations

import socket
from pathlib import Path

import click
import pytest
import typer

from openchargeback.cli import common
from openchargeback.cli.app import app, main

ROOT = Path(__file__).resolve().parent.parent
HEADER = (
    "BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ListCost,"
    "ContractedCost,BilledCost,EffectiveCost,ResourceId,ResourceName,ServiceName,Tags\n"
)


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """The example configuration with its database and folders in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENCHARGEBACK_CONFIG", raising=False)
    text = (ROOT / "config.example.yaml").read_text()
    text = text.replace("close_when_clear: true", "close_when_clear: false")
    path = tmp_path / "site config.yaml"  # a space: the hint quotes the path
    path.write_text(text)
    return path


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(args)
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out, err


@pytest.mark.parametrize(
    "given,message,expected",
    [
        (
            Path("site.yaml"),
            "period 2025-01 is open; close it (`openchargeback periods close 2025-01`) first",
            "period 2025-01 is open; close it (`openchargeback periods close 2025-01 -c site.yaml`) first",
        ),
        (
            Path("/etc/ocb/my config.yaml"),
            "reopen it (openchargeback periods reopen 2025-01 --reason ...) before",
            "reopen it (openchargeback periods reopen 2025-01 --reason ... "
            "-c '/etc/ocb/my config.yaml') before",
        ),
        (
            Path("site.yaml"),
            "back it up, then run `openchargeback db upgrade -c CONFIG`",
            "back it up, then run `openchargeback db upgrade -c site.yaml`",
        ),
        (
            Path("site.yaml"),
            "see `openchargeback imports show 3 -c other.yaml`",
            "see `openchargeback imports show 3 -c other.yaml`",
        ),
        (
            None,
            "close it (`openchargeback periods close 2025-01`)",
            "close it (`openchargeback periods close 2025-01`)",
        ),
    ],
)
def test_hint_repeats_the_config_given(monkeypatch, given, message, expected):
    monkeypatch.setattr(common, "_given_config", given)
    assert common.with_config_hint(message) == expected


def test_refusal_hint_runs_as_printed(config, capsys):
    (config.parent / "aws_2025-01.csv").write_text((ROOT / "sample_data/inputs/aws_2025-01.csv").read_text())
    code, _, _ = _run(
        ["ingest", str(config.parent / "aws_2025-01.csv"), "-s", "aws", "-c", str(config)], capsys
    )
    assert code == 0
    code, out, err = _run(["generate", "-p", "2025-01", "-c", str(config)], capsys)
    assert code == 1 and not out
    assert f"(`openchargeback periods close 2025-01 -c '{config}'`)" in err
    assert len(err.strip().splitlines()) == 1


def test_header_only_file_holds_no_rows(config, capsys):
    empty = config.parent / "aws_2025-02.csv"
    empty.write_text(HEADER)
    code, out, err = _run(["ingest", str(empty), "-s", "aws", "-p", "2025-02", "-c", str(config)], capsys)
    assert code == 0, err
    assert "holds no rows (only a header)" in out
    assert "no period" not in out


def test_serve_on_a_busy_port_is_one_line_and_exit_1(config, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for extra in ([], ["--reload"]):
            code, out, err = _run(["serve", "-c", str(config), "--port", str(port), *extra], capsys)
            assert code == 1
            assert not out
            assert err.strip().splitlines() == [
                f"error: cannot listen on 127.0.0.1:{port}: the port is in use (another server "
                f"running?); stop it, or choose another port with --port"
            ]
    assert not (config.parent / "instance").exists()  # refused before anything was created


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name)


def test_help_metavars_are_clean(capsys):
    paths = [
        (),
        *{p[:1] for p in _commands(typer.main.get_command(app))},
        *_commands(typer.main.get_command(app)),
    ]
    assert len(paths) > 50
    for path in paths:
        code, out, _ = _run([*path, "--help"], capsys)
        assert code == 0, path
        assert "<bool>" not in out, f"{' '.join(path)} --help: <bool> after a flag"
        assert "list[" not in out, f"{' '.join(path)} --help: a list type"
    _, out, _ = _run(["convert", "csv", "--help"], capsys)
    assert "<path>" in out
