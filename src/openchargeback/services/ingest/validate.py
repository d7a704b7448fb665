"""What the importer would do with a FOCUS file, without touching the database:
version detected, columns mapped, rows per period, totals, review flags and problems
with line numbers. ``strict`` also runs the FinOps Foundation's ``focus-validator``
when it is installed and summarises its findings (warnings, never a refusal: real
exports fail dozens of its rules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from openchargeback.config import Settings
from openchargeback.domain.attribution import FIELDS, TagMapping
from openchargeback.domain.charges import ingest_flags
from openchargeback.domain.errors import NotFound
from openchargeback.domain.jsonable import Jsonable, to_json
from openchargeback.domain.periods import Period
from openchargeback.focus.reader import FocusFile, NeedsExactReader
from openchargeback.focus.scan import Limits

SHOWN_PROBLEMS = 50
_FAIL = re.compile(r"\bfail", re.I)


@dataclass(frozen=True)
class StrictReport:
    ran: bool
    message: str
    failures: int = 0
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidateResult(Jsonable):
    file: str
    format: str
    sha256: str
    focus_version: str
    mapped: dict[str, str]
    unmapped: tuple[str, ...]
    rows: int
    rows_per_period: dict[str, int]
    totals: dict[str, dict[str, Decimal]]  # currency -> column -> exact file total
    flags: dict[str, int]
    problems: tuple[str, ...]
    problem_count: int
    skipped_lines: int
    rounded_values: int
    strict: StrictReport | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def would_import(self) -> bool:
        return self.problem_count == 0

    def as_json(self) -> dict:
        # would_import is computed, not a field
        return {**to_json(self), "would_import": self.would_import}


def _mapping(settings: Settings, source: str | None) -> TagMapping:
    override = None
    if source:
        found = [s for s in settings.source_dicts() if s["name"].lower() == source.lower()]
        if not found:
            known = ", ".join(s["name"] for s in settings.source_dicts()) or "none in the configuration"
            raise NotFound(f"unknown source {source!r} (known: {known})")
        override = found[0]["tag_mapping"]
    return TagMapping.build(settings.mapping(), override)


def validate_file(
    path: str | Path,
    settings: Settings | None = None,
    *,
    source: str | None = None,
    period: str | None = None,
    strict: bool = False,
) -> ValidateResult:
    settings = settings or Settings()
    expect = Period.parse(period) if period else None
    mapping = _mapping(settings, source)
    for exact in (False, True):
        focus = FocusFile(
            path,
            default_currency=settings.currency,
            keep_columns=mapping.columns,
            exact=exact,
            limits=Limits(
                settings.ingest.max_expanded_mb * 2**20,
                settings.ingest.max_line_kb * 1024,
                settings.ingest.max_value_chars,
            ),
        )
        flags: dict[str, int] = {}
        try:
            for batch in focus.batches():
                _count_flags(batch, mapping, expect, flags)
        except NeedsExactReader:
            continue
        break
    stats = focus.stats
    totals: dict[str, dict[str, Decimal]] = {}
    for (currency, column), value in sorted(stats.file_totals.items()):
        totals.setdefault(currency, {})[column] = value
    problems = focus.problems
    return ValidateResult(
        focus.name,
        focus.format,
        focus.scan.sha256,
        focus.version,
        dict(focus.mapped),
        tuple(focus.unmapped),
        stats.rows,
        dict(sorted(stats.rows_per_period.items())),
        totals,
        dict(sorted(flags.items())),
        tuple(p.describe(focus.name) for p in problems[:SHOWN_PROBLEMS]),
        len(problems),
        len({p.line for p in problems}),
        stats.rounded_values,
        run_focus_validator(Path(path)) if strict else None,
    )


def _count_flags(batch, mapping: TagMapping, expect: Period | None, flags: dict[str, int]) -> None:
    periods = batch.periods().decode()
    tags = batch.tags.decode()
    xcols = mapping.columns
    kept = [batch.kept.get(c, [None] * batch.size) for c in xcols]
    cache: dict[tuple, list[str]] = {}
    for i in range(batch.size):
        tag = tags[i]
        key = (
            tag[0] if tag else None,
            expect is not None and periods[i] != expect.name,
            *(k[i] for k in kept),
        )
        fl = cache.get(key)
        if fl is None:
            attr = mapping.resolve(tag[1] if tag else None, dict(zip(xcols, key[2:], strict=True)))
            fl = cache[key] = ingest_flags(dict(zip(FIELDS, attr, strict=True)), key[1])
        for f in fl:
            flags[f] = flags.get(f, 0) + 1


def run_focus_validator(path: Path, timeout: int = 600) -> StrictReport:
    exe = shutil.which("focus-validator")
    if exe is None:
        return StrictReport(
            False,
            "focus-validator is not installed (pip install focus-validator; "
            "its 2.x releases need Python 3.12+); its checks were skipped",
        )
    try:
        done = subprocess.run(
            [exe, "--data-file", str(path)], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return StrictReport(False, f"focus-validator could not run: {exc}")
    out = (done.stdout or "") + (done.stderr or "")
    findings = tuple(line.strip() for line in out.splitlines() if _FAIL.search(line))
    try:  # a JSON report, when the installed version writes one
        data = json.loads(done.stdout)
        if isinstance(data, dict) and isinstance(data.get("failures"), list):
            findings = tuple(str(f) for f in data["failures"])
    except (json.JSONDecodeError, TypeError):
        pass
    if findings:
        msg = (
            f"focus-validator reports {len(findings)} failing check(s); treat them as review "
            f"warnings (real exports fail many of its rules)"
        )
    elif done.returncode:
        msg = f"focus-validator exited with {done.returncode}: {out.strip().splitlines()[-1:] or ''}"
    else:
        msg = "focus-validator reports no failing checks"
    return StrictReport(True, msg, len(findings), findings[:20])
