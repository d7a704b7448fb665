"""Convert Slurm, storage and CSV inputs to a FOCUS 1.2 file, priced by a rate table,
keeping the allowance ledger.

One call is one transaction: the ledger records of every period converted and the
output file land together (the file is written to a temporary name and renamed
before the commit), or neither does.

The ledger (``storage.allowance_tables``) is used only when the rate table has free
allowances or fiscal-year caps. Per period, in period order:

* what the other current runs of the rate table consumed is read: allowance quantity
  taken in the same month by other converters, and subsidy money granted in the same
  fiscal year by every other (period, converter). Whatever order periods are
  converted in, a cap or allowance is never exceeded; re-converting the same input
  finds the same room and takes the same share;
* the period's lines are priced against it;
* the run is recorded under the input's SHA-256 (input files, rate table,
  attribution map, mapping and options). Converting the same input again finds the
  same record and consumes nothing more; a different input for the same rate table,
  converter and period supersedes the earlier record (kept as history).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from pathlib import Path

from openchargeback.config import Settings
from openchargeback.convert.attribution import AttributionMap, load_attribution
from openchargeback.convert.csvmap import convert_csv, load_mapping
from openchargeback.convert.focus_writer import FocusWriter, focus_row
from openchargeback.convert.ratefile import load_checked
from openchargeback.convert.slurm import DEFAULT_BILLABLE, convert_slurm_files, run_sacct
from openchargeback.convert.storage_usage import convert_storage
from openchargeback.convert.usage import Usage
from openchargeback.domain.errors import ConfigError, InvalidInput
from openchargeback.domain.jsonable import Jsonable, to_json
from openchargeback.domain.money import ZERO, money, to_str
from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import PricedLine, Prior, UsageLine, price_lines
from openchargeback.domain.rates import RateTable, fiscal_year
from openchargeback.services.context import Context
from openchargeback.storage import allowances as ledger_repo

KINDS = ("slurm", "storage", "csv")


@dataclass(frozen=True)
class ConvertRequest:
    kind: str
    inputs: tuple[Path, ...]
    output: Path
    rates: Path | None = None
    attribution: Path | None = None
    mapping: Path | None = None
    period: str | None = None
    per_job: bool = False
    states: tuple[str, ...] | None = None
    timezone: str | None = None
    service: str | None = None
    skip_invalid: bool = False
    run_sacct: bool = False


@dataclass(frozen=True)
class LedgerEntry(Jsonable):
    period: str
    fiscal_year: str
    status: str  # recorded | unchanged | replaced | recomputed
    run_id: int
    input_sha256: str
    consumed: tuple[tuple[str, str, Decimal, Decimal], ...]  # (subsidy, project, quantity, amount)

    def as_json(self) -> dict:
        # consumed stays tuples (the ledger compares them); its quantities are not money: str()
        return {
            **to_json(self),
            "consumed": [
                {"subsidy": s, "project_id": p, "quantity": str(q), "amount": to_str(a)}
                for s, p, q, a in self.consumed
            ],
        }


@dataclass(frozen=True)
class ConvertResult(Jsonable):
    kind: str
    output: str
    rows: int
    periods: dict[str, int]
    currency: str
    list_total: Decimal
    billed_total: Decimal
    report: dict
    input_sha256: str
    rate_table: str | None = None
    ledger: tuple[LedgerEntry, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def subsidy_total(self) -> Decimal:
        return self.list_total - self.billed_total

    def as_json(self) -> dict:
        # subsidy_total is computed; the ledger entries shape their own JSON
        return {
            **to_json(self),
            "subsidy_total": to_str(self.subsidy_total),
            "ledger": [e.as_json() for e in self.ledger],
        }


def _tag_keys(settings: Settings) -> dict[str, str]:
    """Write each attribution field under the first Tags key the configuration reads."""
    out = {}
    for f, cands in settings.mapping().items():
        out[f] = next((c.strip() for c in cands if not c.strip().lower().startswith("x_")), f)
    return out


def _digest(req: ConvertRequest, inputs: list[Path], options: str) -> str:
    h = hashlib.sha256()
    for p in [*inputs, req.rates, req.attribution, req.mapping]:
        h.update(b"\0")
        if p is None:
            continue
        with open(p, "rb") as f:
            for chunk in iter(partial(f.read, 1 << 20), b""):
                h.update(chunk)
    h.update(options.encode())
    return h.hexdigest()


def _slurm_inputs(paths: list[Path]) -> Iterator[tuple[str, Iterator[str]]]:
    """(name, lines) of each file, opened one at a time; a byte-order mark is dropped."""
    for p in paths:
        with open(p, encoding="utf-8-sig", errors="replace") as f:
            yield p.name, f


def _read(
    req: ConvertRequest,
    settings: Settings,
    table: RateTable | None,
    amap: AttributionMap,
    inputs: list[Path],
    period: Period | None,
) -> Usage:
    conf = settings.convert
    if req.kind == "slurm":
        if table is None:
            raise InvalidInput("slurm conversion needs a rate table (--rates)")
        service = req.service or "hpc"
        priced = table.resources(service)
        if not priced:
            raise InvalidInput(
                f"rate table {table.name!r} prices nothing for service {service!r}; "
                f"add rates with `service: {service}` or pass --service"
            )
        states = req.states or tuple(conf.slurm_billable_states or DEFAULT_BILLABLE)
        return convert_slurm_files(
            _slurm_inputs(inputs),
            amap=amap,
            priced=priced,
            service=service,
            period=period,
            billable=states,
            # sacct run here writes UTC (run_sacct sets TZ=UTC): read what was asked for
            tz="UTC" if req.run_sacct else (req.timezone or conf.slurm_timezone),
            per_job=req.per_job,
            skip_invalid=req.skip_invalid,
        )
    if req.kind == "storage":
        if table is None:
            raise InvalidInput("storage conversion needs a rate table (--rates)")
        return convert_storage(
            inputs,
            table=table,
            amap=amap,
            period=period,
            service=req.service or "storage",
            skip_invalid=req.skip_invalid,
        )
    if req.mapping is None:
        raise InvalidInput("csv conversion needs a mapping file (--mapping)")
    mapping = load_mapping(req.mapping)
    if mapping.pricing and table is None:
        raise InvalidInput(f"mapping {req.mapping} prices with the rate table: give --rates")
    parts = [
        convert_csv(
            p,
            mapping,
            amap=amap,
            period=period,
            currency=settings.currency,
            skip_invalid=req.skip_invalid,
            tag_keys=_tag_keys(settings),
        )
        for p in inputs
    ]
    usage = parts[0]
    for extra in parts[1:]:
        usage.lines.extend(extra.lines)
        usage.rows.extend(extra.rows)
        r, x = usage.report, extra.report
        r.source += f", {x.source}"
        r.records += x.records
        r.used += x.used
        for k, v in x.skipped.items():
            r.skip(k, v)
        for k, v in x.unmapped.items():
            r.unmapped[k] = r.unmapped.get(k, 0) + v
        r.problems += x.problems
        r.notes += x.notes
    # one data set: the lines of every file in the order one file would have them
    usage.lines.sort(key=lambda u: (u.period, u.project or "", u.account or "", u.resource))
    return usage


def convert(
    req: ConvertRequest, settings: Settings | None = None, ctx: Context | None = None
) -> ConvertResult:
    """Convert ``req.inputs`` to ``req.output`` (see the module docstring)."""
    if req.kind not in KINDS:
        raise InvalidInput(f"unknown converter {req.kind!r}; use one of {', '.join(KINDS)}")
    settings = ctx.settings if ctx is not None else (settings or Settings())
    conf = settings.convert
    period = Period.parse(req.period) if req.period else None
    rates = req.rates or (Path(conf.rates) if conf.rates else None)
    attribution = req.attribution or (Path(conf.attribution) if conf.attribution else None)
    req = replace(req, rates=rates, attribution=attribution)
    table = load_checked(rates) if rates else None
    if table is None and req.kind != "csv":
        raise InvalidInput(
            f"{req.kind} conversion needs a rate table: pass --rates FILE "
            f"(or set convert.rates in the configuration)"
        )
    amap = load_attribution(attribution)
    with tempfile.TemporaryDirectory(prefix="ocb-convert-") as tmp:
        inputs = list(req.inputs)
        if req.run_sacct:
            if period is None:
                raise InvalidInput("running sacct needs the period (--period YYYY-MM)")
            sacct_file = Path(tmp) / f"sacct_{period}.txt"
            sacct_file.write_text(run_sacct(period), encoding="utf-8")
            inputs = [sacct_file]
        if not inputs:
            raise InvalidInput(f"no input files given for the {req.kind} converter")
        for p in inputs:
            if not Path(p).is_file():
                raise InvalidInput(f"{p}: no such file")
        usage = _read(req, settings, table, amap, inputs, period)
        options = (
            f"{req.kind}|{req.period}|{req.per_job}|{req.states}|{req.timezone}|{req.service}|"
            f"{conf.fiscal_year_start_month}|{conf.slurm_billable_states}|{conf.slurm_timezone}"
        )
        digest = _digest(req, inputs, options)
        if table is not None and table.needs_ledger and bool(usage.lines or period):
            if ctx is None:
                raise ConfigError(
                    f"rate table {table.name!r} has free allowances or fiscal-year caps: give the "
                    f"configuration (-c CONFIG or $OPENCHARGEBACK_CONFIG) so that what they consume "
                    f"is kept in the database and never consumed twice"
                )
            with ctx.write() as conn:
                return _run(req, settings, table, usage, digest, conn, ctx, period)
        return _run(req, settings, table, usage, digest, None, ctx, period)


def _run(req, settings, table, usage, digest, conn, ctx, period) -> ConvertResult:
    fy_start = settings.convert.fiscal_year_start_month
    priced: list[PricedLine] = []
    entries: list[LedgerEntry] = []
    warnings: list[str] = []
    periods = sorted({u.period for u in usage.lines} | ({period} if period else set()))
    by_period: dict[Period, list[UsageLine]] = {}
    for u in usage.lines:  # every period's lines, whichever input and order they came in
        by_period.setdefault(u.period, []).append(u)
    for p in periods:
        lines = by_period.get(p, [])
        if conn is None:
            priced.extend(price_lines(table, lines, fiscal_year_start_month=fy_start).lines)
            continue
        prior = _prior(conn, table.name, req.kind, p, fy_start)
        pricing = price_lines(table, lines, fiscal_year_start_month=fy_start, prior=prior)
        priced.extend(pricing.lines)
        entry, warn = _record(conn, ctx, table, req.kind, p, fiscal_year(p, fy_start), digest, pricing)
        entries.append(entry)
        warnings += warn
    out = Path(req.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    # created by the writer (mode 0666 less the umask, like any other output), then renamed
    tmp_name = str(out.parent / f".{out.name}.{secrets.token_hex(8)}.tmp")
    counts: dict[str, int] = {}
    tag_keys = _tag_keys(settings)
    list_total = billed_total = ZERO
    try:
        with FocusWriter(tmp_name) as w:
            for pl in priced:
                w.write(focus_row(pl, table, tag_keys))
                counts[pl.line.period.name] = counts.get(pl.line.period.name, 0) + 1
                list_total += pl.list_cost
                billed_total += pl.billed_cost
            for row in usage.rows:
                w.write(row)
                name = row["BillingPeriodStart"][:7]
                counts[name] = counts.get(name, 0) + 1
                list_total += money(row["ListCost"])
                billed_total += money(row["BilledCost"])
            rows = w.rows
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if usage.report.unmapped:
        warnings.append(
            f"{sum(usage.report.unmapped.values())} row(s) for "
            f"{len(usage.report.unmapped)} item(s) the attribution map does not know: "
            f"emitted with an ocb_unmapped tag; import flags them for review"
        )
    return ConvertResult(
        req.kind,
        str(out),
        rows,
        dict(sorted(counts.items())),
        table.currency if table else settings.currency,
        list_total,
        billed_total,
        usage.report.as_json(),
        digest,
        table.name if table else None,
        tuple(entries),
        tuple(warnings),
    )


def _prior(conn, table_name: str, kind: str, p: Period, fy_start: int) -> Prior:
    month: dict[tuple[str, str, str], Decimal] = {}
    year: dict[tuple[str, str, str], Decimal] = {}
    fy = fiscal_year(p, fy_start)
    for r in ledger_repo.current_consumption(conn, table_name, fy):
        if (r.period, r.converter) == (p.name, kind):
            continue  # this run's own earlier record: replaced by what it consumes now
        ykey = (r.subsidy, r.project_id, fy)
        year[ykey] = year.get(ykey, ZERO) + r.amount
        if r.period == p.name:
            mkey = (r.subsidy, r.project_id, p.name)
            month[mkey] = month.get(mkey, ZERO) + r.quantity
    return Prior(month_quantity=month, year_amount=year)


def _record(conn, ctx, table, kind, p: Period, fy: str, digest: str, pricing):
    consumed = tuple(
        sorted(
            (s, proj, c.quantity, c.amount)
            for (s, proj, _fy, name), c in pricing.consumption.items()
            if name == p.name
        )
    )
    existing = ledger_repo.current_run(conn, table.name, kind, p.name)
    if existing is not None:
        stored = tuple(
            sorted(
                (r.subsidy, r.project_id, r.quantity, r.amount)
                for r in ledger_repo.consumption_of(conn, existing.id)
            )
        )
        if existing.input_sha256 == digest and stored == consumed:
            return LedgerEntry(p.name, fy, "unchanged", existing.id, digest, consumed), []
        status = "recomputed" if existing.input_sha256 == digest else "replaced"
        # no longer current; its successor is not created yet
        ledger_repo.supersede(conn, existing.id, None)
    else:
        stored, status = (), "recorded"
    run_id = ledger_repo.create_run(
        conn,
        {
            "rate_table": table.name,
            "converter": kind,
            "period": p.name,
            "fiscal_year": fy,
            "input_sha256": digest,
            "actor": ctx.actor,
            "recorded_at": ctx.clock(),
        },
    )
    if existing is not None:
        ledger_repo.supersede(conn, existing.id, run_id)
    ledger_repo.add_consumption(
        conn,
        run_id,
        [{"subsidy": s, "project_id": proj, "quantity": q, "amount": a} for s, proj, q, a in consumed],
    )
    warnings = []
    if stored != consumed:
        rows = ledger_repo.current_consumption(conn, table.name, fy)
        others = sorted(
            {f"{r.period} ({r.converter})" for r in rows if (r.period, r.converter) != (p.name, kind)}
        )
        if others and existing is not None:
            warnings.append(
                f"{p.name}: what this run consumes changed; other runs in {fy} were priced "
                f"with the earlier figures and may now have more or less room: convert "
                f"again {', '.join(others)}"
            )
    return LedgerEntry(p.name, fy, status, run_id, digest, consumed), warnings


@dataclass(frozen=True)
class Converted:
    path: Path
    result: ConvertResult


def convert_files(
    ctx: Context,
    kind: str,
    paths: list[Path],
    folder: Path,
    *,
    period: str | None = None,
    rates: Path | None = None,
    attribution: Path | None = None,
    mapping: Path | None = None,
) -> Converted:
    """Convert every input together into one FOCUS file in ``folder`` (for ``ingest
    --convert``): one data set, as ``convert`` does (an allocation or a snapshot in two
    inputs counts once; one ledger run per period). The file is named after the inputs,
    so that the import records a recognisable name."""
    stems = [Path(p).stem for p in paths]
    name = "+".join(stems)
    if len(stems) > 1 and len(name) > 100:
        name = f"{stems[0]}+{len(stems) - 1}-more"
    out = Path(folder) / f"{name}.focus.csv"
    req = ConvertRequest(kind, tuple(Path(p) for p in paths), out, rates, attribution, mapping, period)
    return Converted(out, convert(req, ctx=ctx))


def convert_file(
    ctx: Context,
    kind: str,
    path: Path,
    folder: Path,
    *,
    period: str | None = None,
    rates: Path | None = None,
    attribution: Path | None = None,
    mapping: Path | None = None,
) -> Converted:
    """One input: see :func:`convert_files`."""
    return convert_files(
        ctx, kind, [path], folder, period=period, rates=rates, attribution=attribution, mapping=mapping
    )
