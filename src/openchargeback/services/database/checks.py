"""``db check``: the database engine's own check, then the ledger's invariants.

Checks are a registry (``CHECKS``): each has a name and a function of the context that
returns its problems in words. A feature adds its own with ``register_check`` (the
statements package's reconciliation of statement files).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from openchargeback.domain.errors import OpenChargebackError
from openchargeback.services.context import Context
from openchargeback.storage import db, faults, maintenance


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Context], list[str]]
    ledger: bool = True  # needs the schema at this version's revision
    files: bool = False  # about files outside the database (not carried by a copy)


@dataclass(frozen=True)
class CheckResult:
    name: str
    problems: tuple[str, ...]

    def as_json(self) -> dict:
        return {"check": self.name, "ok": not self.problems, "problems": list(self.problems)}


@dataclass(frozen=True)
class CheckReport:
    database: str
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(not r.problems for r in self.results)

    def as_json(self) -> dict:
        return {"database": self.database, "ok": self.ok, "checks": [r.as_json() for r in self.results]}


def _engine_check(full: bool) -> Callable[[Context], list[str]]:
    def run(ctx: Context) -> list[str]:
        with ctx.read() as conn:
            if ctx.dialect == "sqlite":
                return maintenance.quick_check(conn, full=full) + maintenance.foreign_key_check(conn)
            return maintenance.postgres_check(conn)

    return run


def _schema(ctx: Context) -> list[str]:
    current, head = db.current_revision(ctx.engine), db.HEAD_REVISION
    if current == head:
        return []
    return [
        f"schema at revision {current or 'none'}, this version needs {head}: run "
        f"`openchargeback db upgrade` (the ledger checks need it)"
    ]


def _read(check: Callable) -> Callable[[Context], list[str]]:
    def run(ctx: Context) -> list[str]:
        with ctx.read() as conn:
            return list(check(conn))

    return run


def _statement_files(ctx: Context) -> list[str]:
    from openchargeback.services.statements import check_statement_files

    return check_statement_files(ctx)


CHECKS: list[Check] = [
    Check("import totals", _read(maintenance.import_totals_check)),
    Check("references", _read(maintenance.orphans_check)),
    Check("statements", _read(maintenance.statements_check)),
    Check("statement files", _statement_files, files=True),
]


def register_check(name: str, run: Callable[[Context], list[str]], *, files: bool = False) -> None:
    """Add a ledger check (a function of the context returning its problems); ``files``
    for one about files outside the database."""
    CHECKS.append(Check(name, run, files=files))


def check_database(ctx: Context, *, full: bool = False, files: bool = True) -> CheckReport:
    """Every check, each on its own: one that cannot run (damage) is a problem, the
    others still run. Ledger checks run only on a database at this schema revision;
    checks of files outside it only with ``files``."""
    results = []
    engine_name = "integrity_check" if full and ctx.dialect == "sqlite" else "storage"
    for check in [Check(engine_name, _engine_check(full), False), Check("schema", _schema, False)]:
        results.append(_run(check, ctx))
    schema_ok = not results[-1].problems
    for check in CHECKS:
        if (schema_ok or not check.ledger) and (files or not check.files):
            results.append(_run(check, ctx))
    return CheckReport(faults.describe(ctx.engine.url), tuple(results))


def _run(check: Check, ctx: Context) -> CheckResult:
    try:
        return CheckResult(check.name, tuple(check.run(ctx)))
    except OpenChargebackError as exc:
        return CheckResult(check.name, (f"could not run: {exc.message}",))
    except Exception as exc:  # noqa: BLE001 - a damaged database fails some reads: say which, go on
        fault = faults.fault_of(exc, ctx.engine.url)
        said = fault.message if fault is not None else f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        return CheckResult(check.name, (f"could not run: {said}",))
