"""Tag mapping: which Tags key or ``x_`` column supplies each attribution field.

Tags keys are matched case- and whitespace-insensitively (``" Project_ID"`` is
``project_id``). A candidate that starts with ``x_`` names a custom column of the file.
Candidates are tried in order; the first non-empty value wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Self

FIELDS = ("pi_email", "project_id", "fund_org", "cost_center", "account_code", "reference_1", "reference_2")


def _norm(key: str) -> str:
    return key.strip().lower()


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool):  # a valueless tag (true) names nothing
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class TagMapping:
    candidates: tuple[tuple[str, ...], ...]  # per FIELDS entry, normalised names

    @classmethod
    def build(
        cls, base: Mapping[str, list[str]], override: Mapping[str, str | Iterable[str]] | None = None
    ) -> Self:
        merged: dict[str, list[str]] = dict(base)
        for name, value in (override or {}).items():
            merged[name] = [value] if isinstance(value, str) else list(value)
        return cls(tuple(tuple(_norm(c) for c in merged[f]) for f in FIELDS))

    @property
    def columns(self) -> tuple[str, ...]:
        """The ``x_`` columns (lower-cased) this mapping reads."""
        return tuple(sorted({c for cands in self.candidates for c in cands if c.startswith("x_")}))

    def resolve(
        self, tags: Mapping[str, object] | None, columns: Mapping[str, str | None] | None = None
    ) -> tuple[str | None, ...]:
        """Attribution values in FIELDS order."""
        norm = {_norm(k): v for k, v in tags.items()} if tags else {}
        out: list[str | None] = []
        for cands in self.candidates:
            value: str | None = None
            for c in cands:
                raw = (columns or {}).get(c) if c.startswith("x_") else norm.get(c)
                value = _text(raw)
                if value is not None:
                    break
            out.append(value)
        return tuple(out)
