"""Billing periods: calendar months, half-open ``[start, end)`` in aware UTC,
named ``YYYY-MM``, with the lifecycle open -> closed -> finalized (reopen with a reason)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache

from openchargeback.domain.errors import Conflict, InvalidInput

_NAME = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _NAME.match(text.strip()) if isinstance(text, str) else None
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise InvalidInput(f"period {text!r} is not a month in the form YYYY-MM (e.g. 2025-01)")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def containing(cls, moment: datetime) -> Period:
        moment = moment.astimezone(UTC)
        return cls(moment.year, moment.month)

    @property
    def name(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return self.name


class PeriodStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FINALIZED = "finalized"


# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[PeriodStatus], PeriodStatus]] = {
    "close": (frozenset({PeriodStatus.OPEN}), PeriodStatus.CLOSED),
    "finalize": (frozenset({PeriodStatus.CLOSED}), PeriodStatus.FINALIZED),
    "reopen": (frozenset({PeriodStatus.CLOSED, PeriodStatus.FINALIZED}), PeriodStatus.OPEN),
    "open": (frozenset(), PeriodStatus.OPEN),  # creation only
}


def transition(period: str, current: PeriodStatus, action: str, reason: str | None) -> PeriodStatus:
    """The status after ``action``, or a Conflict naming the period and its status."""
    if action not in TRANSITIONS or action == "open":
        raise InvalidInput(f"unknown period action {action!r}; use close, finalize or reopen")
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        hint = {
            PeriodStatus.OPEN: "it is still open",
            PeriodStatus.CLOSED: "it is already closed",
            PeriodStatus.FINALIZED: "it is finalized; reopen it first",
        }[current]
        raise Conflict(f"cannot {action} period {period}: {hint}")
    if action == "reopen" and not (reason and reason.strip()):
        raise InvalidInput(
            f"reopening period {period} needs a reason (--reason)",
            web=f"reopening period {period} needs a reason",
        )
    return target


def ensure_writable(period: str, status: PeriodStatus) -> None:
    """Imports and edits are allowed only while a period is open."""
    if status != PeriodStatus.OPEN:
        raise Conflict(
            f"period {period} is {status}; reopen it (openchargeback periods reopen {period} "
            f"--reason ...) before changing its charges",
            web=f"period {period} is {status}; an admin reopens it, with a reason, on the period's "
            f"page before its charges can change",
        )


@lru_cache(maxsize=4096)
def name_containing(moment: datetime) -> str:
    """The name of the period containing ``moment``; remembered, as an import asks it of
    every distinct charge detail and a file's details share a few billing periods."""
    return Period.containing(moment).name
