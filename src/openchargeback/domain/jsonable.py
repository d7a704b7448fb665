"""One way to turn results into JSON: every ``--json`` output and JSON endpoint goes
through :func:`to_json`.

Dataclass fields become keys; a field's ``field(metadata={JSON: "name"})`` renames its
key and ``field(metadata={JSON: None})`` leaves it out. Money (``Decimal``) is exact text (see
:func:`openchargeback.domain.money.to_str`), times are ISO 8601, tuples are lists.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

from openchargeback.domain.money import to_str

JSON = "json"


_PLAIN = (str, int, type(None))  # bool is an int


@functools.cache
def _keys(cls: type) -> tuple[tuple[str, str], ...]:
    """(field, key) of a dataclass, looked up once per class: a page of rows is a hot path."""
    pairs = ((f.name, f.metadata.get(JSON, f.name)) for f in dataclasses.fields(cls))
    return tuple((name, key) for name, key in pairs if key is not None)


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data (dict, list, str, int, float-free, bool, None)."""
    if isinstance(value, _PLAIN):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for name, key in _keys(type(value)):
            v = getattr(value, name)
            out[key] = v if isinstance(v, _PLAIN) else to_json(v)
        return out
    if isinstance(value, Decimal):
        return to_str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_json(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    return value


class Jsonable:
    """Mixin for result dataclasses: ``as_json()`` is :func:`to_json` of the instance."""

    def as_json(self) -> Any:
        return to_json(self)
