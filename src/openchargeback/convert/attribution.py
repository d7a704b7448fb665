"""Attribution map: who pays for a Slurm account, a storage path, a user or a project.

YAML::

    accounts:                 # Slurm accounts (and the account column of a CSV mapping)
      genomics: {pi_email: ada@example.edu, project_id: GEN-1, fund_org: NIH-R01-123}
    users:                    # fallback by user name (Slurm User, storage owner)
      alice: {pi_email: ...}
    projects:                 # the owner/project column of a storage report
      climate: {...}
    paths:                    # storage paths; the longest matching prefix wins
      /proj/genomics: {...}

or CSV with the header ``kind,key,pi_email,project_id,fund_org,cost_center,account_code,
reference_1,reference_2`` where kind is account, user, project or path.

Values are the attribution fields of ``domain.attribution.FIELDS``. An item found in
no section is *unmapped*: converters still emit it, without those fields (so ingest
flags it) and with an ``ocb_unmapped`` tag naming what was not found.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from openchargeback.convert.yamlfile import load_yaml
from openchargeback.domain.attribution import FIELDS
from openchargeback.domain.errors import InvalidInput

SECTIONS = {"account": "accounts", "user": "users", "project": "projects", "path": "paths"}
Entry = tuple[tuple[str, str], ...]  # (field, value) pairs, FIELDS order, non-empty only


@dataclass(frozen=True)
class Resolved:
    entry: Entry
    matched: str | None  # "account genomics", or None when unmapped
    missing: str | None = None  # what was looked up and not found

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.entry)

    @property
    def project(self) -> str | None:
        return self.fields.get("project_id")


@dataclass(frozen=True)
class AttributionMap:
    sections: Mapping[str, Mapping[str, Entry]] = field(default_factory=dict)
    name: str = "(none)"

    def lookup(self, kind: str, key: str | None) -> Entry | None:
        if key is None or key == "":
            return None
        if kind == "path":
            return self._path(key)
        return self.sections.get(SECTIONS[kind], {}).get(key)

    def _path(self, path: str) -> Entry | None:
        paths = self.sections.get("paths", {})
        p = path.rstrip("/") or "/"
        while True:
            if p in paths:
                return paths[p]
            if p in ("", "/"):
                return paths.get("/")
            p = p.rsplit("/", 1)[0] or "/"

    def resolve(self, *candidates: tuple[str, str | None]) -> Resolved:
        """The first candidate (kind, key) the map knows; unmapped names the first."""
        for kind, key in candidates:
            entry = self.lookup(kind, key)
            if entry is not None:
                return Resolved(entry, f"{kind} {key}")
        shown = next(((k, v) for k, v in candidates if v), candidates[0] if candidates else ("item", None))
        return Resolved((), None, f"{shown[0]} {shown[1] or '(empty)'}")


def _entry(values: object, where: str, problems: list[str]) -> Entry:
    if not isinstance(values, Mapping):
        problems.append(f"{where}: expected a mapping of {', '.join(FIELDS)}")
        return ()
    for k in values:
        if k not in FIELDS:
            problems.append(f"{where}: unknown field {k!r} (fields: {', '.join(FIELDS)})")
    return tuple(
        (f, str(values[f]).strip()) for f in FIELDS if values.get(f) is not None and str(values[f]).strip()
    )


def load_attribution(path: str | Path | None) -> AttributionMap:
    """An attribution map from YAML or CSV (by extension); an empty map for None."""
    if path is None:
        return AttributionMap()
    p = Path(path)
    problems: list[str] = []
    sections: dict[str, dict[str, Entry]] = {s: {} for s in SECTIONS.values()}
    if p.suffix.lower() == ".csv":
        if not p.is_file():
            raise InvalidInput(f"attribution map {p}: no such file")
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"kind", "key"} <= set(reader.fieldnames):
                raise InvalidInput(
                    f"attribution map {p}: the header needs kind and key columns (and {', '.join(FIELDS)})"
                )
            for row in reader:
                where = f"{p}:{reader.line_num}"
                kind = (row.get("kind") or "").strip().lower()
                if kind not in SECTIONS:
                    problems.append(f"{where}: kind {kind!r} is not one of {', '.join(SECTIONS)}")
                    continue
                values = {k: v for k, v in row.items() if k in FIELDS and v}
                _store(sections, kind, (row.get("key") or "").strip(), values, where, problems)
    else:
        data = load_yaml(p, "attribution map") or {}
        if not isinstance(data, Mapping):
            raise InvalidInput(f"attribution map {p}: expected sections {', '.join(SECTIONS.values())}")
        by_section = {v: k for k, v in SECTIONS.items()}
        for section, items in data.items():
            if section not in by_section:
                problems.append(
                    f"{p}: unknown section {section!r} (sections: {', '.join(SECTIONS.values())})"
                )
                continue
            if not isinstance(items, Mapping):
                problems.append(f"{p}: {section}: expected a mapping of names to fields")
                continue
            for key, values in items.items():
                _store(sections, by_section[section], str(key), values, f"{p}: {section}.{key}", problems)
    if problems:
        raise InvalidInput("\n".join(problems))
    return AttributionMap(sections, name=p.name)


def _store(
    sections: dict[str, dict[str, Entry]],
    kind: str,
    key: str,
    values: object,
    where: str,
    problems: list[str],
) -> None:
    if not key:
        problems.append(f"{where}: empty key")
        return
    if kind == "path":
        key = key.rstrip("/") or "/"
    section = sections[SECTIONS[kind]]
    if key in section:
        problems.append(f"{where}: {kind} {key!r} is given twice")
    section[key] = _entry(values, where, problems)
