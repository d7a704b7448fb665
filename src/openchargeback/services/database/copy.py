"""``db copy --to URL``: the whole database into another, empty one (SQLite to
PostgreSQL and back).

The copy reads one snapshot of the source and writes the target in one transaction.
Before that transaction commits, the target's ledger checks run and its figures (rows
of every table, charge sums per currency and column, statement totals, a digest of
every stored PDF and journal file) are compared with the source's: any difference
rolls the whole copy back. The storage check of the target runs after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from openchargeback.config import Settings
from openchargeback.domain.errors import Conflict, DatabaseFault, InvalidInput
from openchargeback.services.context import build_context
from openchargeback.services.database.checks import CheckReport, check_database
from openchargeback.storage import copying, db, faults, maintenance


@dataclass(frozen=True)
class CopyResult:
    source: str
    target: str
    rows: dict[str, int]
    figures: dict[str, str]
    check: CheckReport

    def as_json(self) -> dict:
        return {
            "source": self.source,
            "target": self.target,
            "rows": self.rows,
            "figures": self.figures,
            "check": self.check.as_json(),
        }


def copy_database(
    settings: Settings, to_url: str, progress: Callable[[str, int], None] | None = None
) -> CopyResult:
    source = build_context(settings, migrate=False)
    target_settings = settings.model_copy(
        update={"database": settings.database.model_copy(update={"url": to_url})}
    )
    target = build_context(target_settings, migrate=False, actor=source.actor)
    try:
        names = faults.describe(source.engine.url), faults.describe(target.engine.url)
        if str(source.engine.url) == str(target.engine.url):
            raise InvalidInput(f"--to names the configured database itself ({names[0]})")
        db.ensure_schema(source.engine)  # an old source is upgraded first, by the operator
        with target.read() as conn:
            held = maintenance.holds_data(conn)
        if held:
            raise Conflict(
                f"{names[1]} is not empty (rows in {', '.join(held[:5])}): copy goes into an empty database"
            )
        current = db.current_revision(target.engine)
        if current is None:
            db.upgrade(target.engine)
        elif current != db.HEAD_REVISION:
            raise Conflict(f"{names[1]} is at schema revision {current}; copy needs an empty database")
        with source.read() as src:
            if source.dialect == "postgresql":  # one snapshot for the whole copy
                src.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            expected = maintenance.ledger_figures(src)
            with target.write() as dst:
                rows = copying.copy_all(src, dst, progress)
                got = maintenance.ledger_figures(dst)
                differ = [
                    f"{k}: {expected.get(k)} -> {got.get(k)}"
                    for k in sorted(expected.keys() | got.keys())
                    if expected.get(k) != got.get(k)
                ]
                if differ:
                    raise DatabaseFault(
                        f"the copy into {names[1]} differs from {names[0]} ({'; '.join(differ[:5])}); "
                        f"it was rolled back: nothing was written"
                    )
                problems = (
                    maintenance.import_totals_check(dst)
                    + maintenance.orphans_check(dst)
                    + maintenance.statements_check(dst)
                )
                if problems:
                    raise DatabaseFault(
                        f"the copy into {names[1]} fails the ledger checks ({'; '.join(problems[:5])}); "
                        f"it was rolled back: nothing was written"
                    )
        report = check_database(target, files=False)  # the files stay where they are
        return CopyResult(names[0], names[1], rows, expected, report)
    finally:
        source.engine.dispose()
        target.engine.dispose()
