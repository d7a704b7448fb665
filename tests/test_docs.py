"""Every command, option and setting is documented."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import click
import pytest
import typer
from pydantic import BaseModel

from openchargeback.cli.app import app
from openchargeback.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _commands(group: click.Group, prefix: str = ""):
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, path)
        else:
            yield path, cmd


COMMANDS = list(_commands(typer.main.get_command(app)))


def _doc_with_heading(path: str) -> tuple[Path, str] | None:
    pattern = re.compile(rf"^#+ `openchargeback {re.escape(path)}`", re.M)
    for md in sorted(DOCS.rglob("*.md")):
        text = md.read_text()
        if pattern.search(text):
            return md, text
    return None


def test_command_tree_is_not_empty():
    names = {p for p, _ in COMMANDS}
    assert {"ingest", "imports list", "report totals", "db upgrade"} <= names


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_documented_with_its_options(path, cmd):
    found = _doc_with_heading(path)
    assert found, f"`openchargeback {path}` has no heading in docs/"
    md, text = found
    assert cmd.help, f"`openchargeback {path}` has no --help text"
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            longs = [o for o in param.opts if o.startswith("--") and o != "--help"]
            if not longs:
                continue
            assert any(o in text for o in longs), f"{md.name}: option {longs[0]} of `{path}` undocumented"


def _models(ann):
    """(model, inside a list) for the pydantic models an annotation holds."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        yield ann, False
        return
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is list:
        for model, _ in _models(args[0]):
            yield model, True
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _models(arg)


def _keys(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        yield key
        for sub, in_list in _models(field.annotation):
            yield from _keys(sub, key + ("[]." if in_list else "."))


def test_every_setting_documented():
    text = (DOCS / "getting-started" / "configuration.md").read_text()
    missing = [k for k in _keys(Settings) if f"`{k}`" not in text]
    assert not missing, f"docs/getting-started/configuration.md lacks: {missing}"


def test_example_config_is_valid_and_complete():
    import yaml

    raw = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    Settings.model_validate(raw)
    assert set(Settings.model_fields) <= set(raw), "config.example.yaml lacks top-level keys"
