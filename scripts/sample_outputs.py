#!/usr/bin/env python3
"""Regenerate sample_data/outputs/: the statements (PDF), email messages (.eml) and
journals (gl, standard, summary) of the sample months, from a fresh database.

The months are run with the documented commands, in one process, in a temporary folder
with the example configuration (config.example.yaml; the database, output folders and
outbox inside the folder):

    openchargeback convert csv sample_data/convert/llm_tokens_PERIOD.csv --mapping ... -o llm_PERIOD.csv
    openchargeback ingest sample_data/inputs/SOURCE_PERIOD.csv -s SOURCE -p PERIOD
                                        (SOURCE: aws, azure, hpc, storage, it_storage)
    openchargeback ingest llm_PERIOD.csv -s llm -p PERIOD
    openchargeback review approve -p PERIOD --note "..."      (whatever was flagged)
    openchargeback generate -p PERIOD --send                 (closes the month first)
    openchargeback export-journal -p PERIOD -f gl|standard|summary

Deterministic: the clock is pinned to 06:00 UTC on the 3rd of the month after the
period (statement dates, email Date headers, history), Message-IDs are numbered
(<sample-N@...>), MIME boundaries come from a seeded generator, and ids come from the
fresh database. Running it twice writes identical files, so `git diff` shows what a
change of the product changed in its documents.

    python scripts/sample_outputs.py [OUTPUT_DIR]      (default: sample_data/outputs)
"""

from __future__ import annotations

import contextlib
import io
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
PERIODS = ("2025-01", "2025-12")
SOURCES = ("aws", "azure", "hpc", "storage", "it_storage")
JOURNAL_FORMATS = ("gl", "standard", "summary")
ACTOR = "sample-outputs"


def clock_for(period: str) -> datetime:
    """06:00 UTC on the 3rd of the month after ``period``: when the month is billed."""
    year, month = map(int, period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 3, 6, 0, tzinfo=UTC)


class Pinned:
    """The clock and the identifiers the product would otherwise take from the machine."""

    def __init__(self) -> None:
        self.now = clock_for(PERIODS[0])
        self.message_ids = 0

    def make_msgid(self, idstring: str | None = None, domain: str | None = None) -> str:
        self.message_ids += 1
        return f"<sample-{self.message_ids}@{domain or 'openchargeback.example'}>"

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import openchargeback.cli.common as common

        real_build = common.build_context

        def build(settings, **kwargs):
            ctx = real_build(settings, actor=ACTOR, **kwargs)
            ctx.clock = lambda: self.now
            return ctx

        patched: list[tuple[object, str, object]] = [(common, "build_context", real_build)]
        common.build_context = build
        for name, module in list(sys.modules.items()):
            if name.startswith("openchargeback") and hasattr(module, "make_msgid"):
                patched.append((module, "make_msgid", module.make_msgid))
                module.make_msgid = self.make_msgid  # type: ignore[attr-defined]
        try:
            yield
        finally:
            for target, attr, value in patched:
                setattr(target, attr, value)


def run(*args: str | Path) -> str:
    """One CLI command in this process; its standard output (a refusal raises)."""
    from openchargeback.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    if code != 0:
        raise SystemExit(f"openchargeback {' '.join(map(str, args))}: exit {code}\n{err.getvalue()}")
    return out.getvalue()


def site_config(folder: Path) -> Path:
    """config.example.yaml with its relative paths (database, outputs, outbox, uploads)
    inside ``folder`` and the sample rate table and attribution map by absolute path."""
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("./instance/", f"{folder}/instance/")
    text = text.replace(" sample_data/", f" {SAMPLES}/")
    config = folder / "config.yaml"
    config.write_text(text, encoding="utf-8")
    return config


def import_modules() -> None:
    """Load every module a command uses, so that the pins reach them all."""
    import openchargeback.cli.common  # noqa: F401
    import openchargeback.rendering.email  # noqa: F401
    import openchargeback.services.statements.delivery  # noqa: F401


def month(pinned: Pinned, config: Path, work: Path, period: str) -> None:
    pinned.now = clock_for(period)
    c = ("-c", config)
    llm = work / f"llm_{period}.csv"
    run(
        "convert",
        "csv",
        SAMPLES / "convert" / f"llm_tokens_{period}.csv",
        "--mapping",
        SAMPLES / "convert" / "llm_tokens.mapping.yaml",
        "--rates",
        SAMPLES / "rates" / "llm-rates.yaml",
        "--attribution",
        SAMPLES / "attribution" / "attribution.example.yaml",
        "-o",
        llm,
        *c,
    )
    for source in SOURCES:
        run("ingest", SAMPLES / "inputs" / f"{source}_{period}.csv", "-s", source, "-p", period, *c)
    run("ingest", llm, "-s", "llm", "-p", period, *c)
    run("review", "approve", "-p", period, "--note", "sample month: reviewed", *c)
    random.seed(f"sample-outputs {period}")  # MIME boundaries
    run("generate", "-p", period, "--send", *c)
    for fmt in JOURNAL_FORMATS:
        run("export-journal", "-p", period, "-f", fmt, *c)


def collect(work: Path, out: Path) -> None:
    """Copy the documents into ``out``/PERIOD/{statements,email,journals}/."""
    instance = work / "instance"
    for period in PERIODS:
        for kind, source, pattern in (
            ("statements", instance / "statements" / period, "*"),
            ("email", instance / "outbox", f"{period}-*.eml"),
            ("journals", instance / "journals" / period, "*"),
        ):
            target = out / period / kind
            target.mkdir(parents=True, exist_ok=True)
            for f in sorted(source.glob(pattern)):
                if f.is_file():
                    shutil.copyfile(f, target / f.name)


def generate(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ocb-samples-") as tmp:
        work = Path(tmp)
        config = site_config(work)
        import_modules()
        pinned = Pinned()
        with pinned.installed():
            for period in PERIODS:
                month(pinned, config, work, period)
        if out.exists():
            shutil.rmtree(out)
        collect(work, out)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES / "outputs"
    generate(out.resolve())
    files = sorted(p for p in out.rglob("*") if p.is_file())
    print(f"{out}: {len(files)} files")


if __name__ == "__main__":
    main()
