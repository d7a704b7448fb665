"""What a converter hands on: usage lines to price, and a report of what it read."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from openchargeback.domain.errors import FileRefused
from openchargeback.domain.pricing import UsageLine

QUANTITY_PLACES = Decimal("0.000001")  # quantities are written to 6 decimal places
SHOWN_PROBLEMS = 20


def quantity(numerator: int, denominator: int) -> Decimal:
    """An exact ratio of integers, rounded half-even to 6 decimal places."""
    return (Decimal(numerator) / Decimal(denominator)).quantize(QUANTITY_PLACES, ROUND_HALF_EVEN)


@dataclass
class ConversionReport:
    kind: str
    source: str
    records: int = 0  # data lines read
    used: int = 0  # records that produced usage
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> records
    unmapped: dict[str, int] = field(default_factory=dict)  # item -> lines emitted for it
    problems: list[str] = field(default_factory=list)  # "file:line: what"
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def refuse_if_problems(self, skip_invalid: bool) -> None:
        if not self.problems or skip_invalid:
            return
        shown = "\n".join("  " + p for p in self.problems[:SHOWN_PROBLEMS])
        more = len(self.problems) - SHOWN_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise FileRefused(
            f"{self.source}: {len(self.problems)} unreadable record(s); nothing was "
            f"converted. Fix them, or leave them out with --skip-invalid:\n{shown}{tail}",
            problems=list(self.problems),
        )

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "source": self.source,
            "records": self.records,
            "used": self.used,
            "skipped": dict(sorted(self.skipped.items())),
            "unmapped": dict(sorted(self.unmapped.items())),
            "problems": self.problems,
            "notes": self.notes,
        }


@dataclass
class Usage:
    lines: list[UsageLine]
    report: ConversionReport
    inputs: tuple[str, ...] = ()  # files read, for the input hash
    rows: list[dict] = field(default_factory=list)  # rows costed by the input itself (csv)
