"""YAML that never makes a float: ``0.025`` is read as ``Decimal("0.025")``."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from openchargeback.domain.errors import InvalidInput


class _DecimalLoader(yaml.SafeLoader):
    pass


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:  # .inf / .nan spellings
        return Decimal(
            text.lstrip("+")
            .replace(".inf", "Infinity")
            .replace(".nan", "NaN")
            .replace(".Inf", "Infinity")
            .replace(".INF", "Infinity")
        )


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def load_yaml(path: str | Path, what: str) -> Any:
    """Parsed YAML of a file, decimals exact; InvalidInput naming the file otherwise."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{what} {p}: no such file")
    try:
        return yaml.load(p.read_text(encoding="utf-8"), Loader=_DecimalLoader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{what} {p}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} {p}: not UTF-8 text ({exc.reason})") from None
