"""The one way to make an amount of money.

Floats are banned: 0.1 + 0.2 != 0.3 in binary floating point, and a ledger that
cannot add up to the cent is worthless. Every amount is a ``decimal.Decimal``
built by :func:`money`, exact to ``SCALE`` decimal places (a picounit: 1e-12 of
a currency unit). FOCUS exports carry 10 and 11 significant decimals (the FinOps
Foundation sample does), so 12 keeps every real-world value exact; a value with
more digits is rounded half-even to 12 places and counted, never dropped silently.

Rounding to the currency's minor unit happens only in :func:`round_minor`,
half-up, at document-line level; document totals are sums of rounded lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import overload

SCALE = 12
QUANTUM = Decimal(1).scaleb(-SCALE)
PICOS = 10**SCALE
ZERO = Decimal(0)

# Enough precision that no sum of realistic amounts is ever rounded by the context.
_CTX = Context(prec=60, traps=[InvalidOperation])


class MoneyError(ValueError):
    """A value that is not an amount of money."""


def money(value: Decimal | int | str) -> Decimal:
    """Return ``value`` as an exact Decimal amount at ledger scale.

    Accepts Decimal, int or a decimal string (``"1.5"``, ``"-2"``, ``"1.2e-7"``).
    Floats are refused: convert them from their text form at the boundary.
    """
    if isinstance(value, float):
        raise MoneyError(f"refusing float {value!r}: pass the decimal text instead")
    if isinstance(value, bool):
        raise MoneyError(f"not an amount: {value!r}")
    try:
        d = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise MoneyError(f"not a decimal number: {value!r}") from exc
    if not d.is_finite():
        raise MoneyError(f"not a finite number: {value!r}")
    try:
        return d.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=_CTX)
    except InvalidOperation:  # more digits than any amount of money has (1e400)
        raise MoneyError(f"out of range for an amount: {value!r}") from None


def is_exact_at_scale(d: Decimal) -> bool:
    """True when ``d`` has no digits beyond the ledger scale."""
    return d == d.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=_CTX)


def to_picos(d: Decimal) -> int:
    """Integer count of 1e-12 units (the SQLite storage form). ``d`` is at scale."""
    return int(d.scaleb(SCALE, context=_CTX))


def from_picos(n: int) -> Decimal:
    return Decimal(n).scaleb(-SCALE, context=_CTX)


def round_minor(d: Decimal, minor_digits: int = 2) -> Decimal:
    """Round half-up to the currency's minor unit (cents for USD)."""
    return d.quantize(Decimal(1).scaleb(-minor_digits), rounding=ROUND_HALF_UP, context=_CTX)


@overload
def to_str(d: Decimal) -> str: ...
@overload
def to_str(d: None) -> None: ...
@overload
def to_str(d: Decimal | None) -> str | None: ...
def to_str(d: Decimal | None) -> str | None:
    """Exact decimal text without exponent or trailing-zero noise, at least 2 places.

    ``Decimal("1062.500000000000")`` -> ``"1062.50"``; ``Decimal("1.2E-7")`` -> ``"0.00000012"``.
    """
    if d is None:
        return None
    text = format(d.normalize(context=_CTX), "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if len(frac) < 2:
        frac = frac.ljust(2, "0")
    if whole in ("-0",) and not frac.strip("0"):
        whole = "0"
    return f"{whole}.{frac}"


def total(values: Iterable[Decimal]) -> Decimal:
    """Exact sum of Decimals (``sum`` with an explicit high-precision context)."""
    acc = ZERO
    for v in values:
        acc = _CTX.add(acc, v)
    return acc
