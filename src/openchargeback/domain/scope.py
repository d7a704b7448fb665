"""Whose data a reader may see. Staff see everything (``Scope.ALL``); a PI or delegate
sees only the registry PIs they hold. Services take a scope and filter every query by
it, so no page, download or API item can show another PI's data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from openchargeback.domain.errors import NotFound


@dataclass(frozen=True)
class Scope:
    pis: frozenset[str] | None  # lower-case PI emails; None: every PI (staff)

    @property
    def restricted(self) -> bool:
        return self.pis is not None

    def allows(self, pi_email: str | None) -> bool:
        return self.pis is None or (pi_email is not None and pi_email.lower() in self.pis)

    def check(self, pi_email: str | None, what: str) -> None:
        """NotFound (never Forbidden: whether it exists is not told) when out of scope."""
        if not self.allows(pi_email):
            raise NotFound(f"{what} does not exist")

    def narrow(self, pi: str | None) -> tuple[str, ...] | None:
        """The PI emails a query filtered by ``pi`` may match (None: no limit)."""
        if self.pis is None:
            return None
        if pi is None:
            return tuple(sorted(self.pis))
        return (pi.lower(),) if pi.lower() in self.pis else ()

    @classmethod
    def of(cls, pis: Iterable[str]) -> Scope:
        return cls(frozenset(p.lower() for p in pis))


ALL = Scope(None)
