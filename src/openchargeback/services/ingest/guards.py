"""The guards an import passes before it commits: the file belongs to its source (by
name and by who bills in it), and its rows are not already billed by an earlier import.

Each guard refuses with one message that names what it found and the flag that says
the operator knows better (``--source-ok``, ``--append`` or ``--replace``).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from openchargeback.domain.errors import Conflict
from openchargeback.domain.money import to_str

_MAX_PARTIES = 200  # providers / billing accounts kept per import (a sample is enough)


def matches(name: str, pattern: str) -> bool:
    """Whether a file name matches a source's ``file_pattern`` (case-insensitive; a
    ``.gz`` or ``.parquet`` variant of a ``*.csv`` pattern matches too)."""
    name, pattern = name.lower(), pattern.lower()
    if fnmatch.fnmatchcase(name, pattern):
        return True
    for ext in (".gz", ".parquet"):  # aws_*.csv also matches aws_2025-01.csv.gz
        if name.endswith(ext) and fnmatch.fnmatchcase(name.removesuffix(ext), pattern):
            return True
    return pattern.endswith(".csv") and fnmatch.fnmatchcase(name, pattern[:-4] + ".parquet")


def check_name(filename: str, source: Any, all_sources: Sequence[Any]) -> None:
    """Refuse a file whose name matches another source's pattern and not its own."""
    if source.file_pattern and matches(filename, source.file_pattern):
        return
    others = sorted(
        (
            s
            for s in all_sources
            if s.id != source.id and s.file_pattern and matches(filename, s.file_pattern)
        ),
        key=lambda s: -len(s.file_pattern),
    )
    if others:
        likely = others[0]
        own = (
            f"{source.name}'s is {source.file_pattern!r}"
            if source.file_pattern
            else f"{source.name} has none"
        )
        found = (
            f"{filename} looks like a file of source {likely.name} (its file_pattern "
            f"{likely.file_pattern!r} matches the name; {own}); nothing was imported. "
        )
        raise Conflict(
            found
            + f"Import it with -s {likely.name}, or add --source-ok if it really belongs to {source.name}",
            web=found + f'Choose source {likely.name} for it, or tick "The file belongs to the chosen '
            f'source" if it really belongs to {source.name}',
        )


class Parties:
    """Who bills in a file: its providers and billing accounts (a bounded sample)."""

    def __init__(self) -> None:
        self.providers: set[str] = set()
        self.accounts: set[str] = set()

    def add(self, providers: Iterable[str | None], accounts: Iterable[str | None]) -> None:
        for into, values in ((self.providers, providers), (self.accounts, accounts)):
            for v in values:
                if v and len(into) < _MAX_PARTIES:
                    into.add(v)

    def to_json(self) -> str:
        return json.dumps({"providers": sorted(self.providers), "accounts": sorted(self.accounts)})


def check_parties(filename: str, source: Any, new: Parties, earlier: Sequence[str], all_sources: Any) -> None:
    """Refuse a file whose providers, or whose billing accounts, share none with what the
    source's earlier imports held. ``all_sources`` maps a source name to its recorded
    parties, to name the likely source."""
    if not earlier:
        return
    seen = Parties()
    for text in earlier:
        data = json.loads(text)
        seen.add(data.get("providers", ()), data.get("accounts", ()))
    for kind, mine, theirs in (
        ("providers", new.providers, seen.providers),
        ("billing accounts", new.accounts, seen.accounts),
    ):
        if mine and theirs and not (mine & theirs):
            likely = [
                name
                for name, texts in all_sources.items()
                if name != source.name and any(mine & set(json.loads(t).get(_key(kind), ())) for t in texts)
            ]
            found = (
                f"{filename}: its {kind} ({_few(mine)}) are none of those of source "
                f"{source.name}'s earlier imports ({_few(theirs)})"
            )
            raise Conflict(
                found
                + (
                    f"; it looks like a file of source {likely[0]} (import it with -s {likely[0]})"
                    if likely
                    else ""
                )
                + f"; nothing was imported. Add --source-ok if it really belongs to {source.name}",
                web=found
                + (f"; it looks like a file of source {likely[0]}" if likely else "")
                + f'; nothing was imported. Tick "The file belongs to the chosen source" if it really '
                f"belongs to {source.name}",
            )


def _key(kind: str) -> str:
    return "providers" if kind == "providers" else "accounts"


def _few(values: set[str]) -> str:
    shown = sorted(values)[:3]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def overlap_refusal(
    filename: str,
    rows: int,
    found: Sequence[tuple[int, str, int, Decimal]],
    earlier: dict[int, tuple[str, datetime]],
) -> Conflict:
    """The refusal of a file whose rows an earlier import already holds: how many rows,
    how much, which import (file, date), and the two ways on."""
    by_import: dict[int, list[tuple[str, int, Decimal]]] = {}
    for old_id, currency, n, billed in found:
        by_import.setdefault(old_id, []).append((currency, n, billed))
    parts = []
    for old_id, items in by_import.items():
        name, at = earlier[old_id]
        n = sum(i[1] for i in items)
        money = " + ".join(f"{to_str(b)} {c}" for c, _, b in items)
        parts.append(
            f"{n} row(s), {money} billed, identical to import #{old_id} ({name}, {at:%Y-%m-%d %H:%M} UTC)"
        )
    total = sum(f[2] for f in found)
    held = f"{filename}: {total} of its {rows} row(s) are already in the ledger: " + "; ".join(parts)
    return Conflict(
        held + ". Nothing was imported. If this file is a corrected export that replaces the "
        "earlier one, import it with --replace; if these really are new rows, import it "
        "with --append",
        web=held + ". Nothing was imported. If this file is a corrected export that replaces the "
        "earlier one, import it again with Replace; if these really are new rows, with Append",
    )
