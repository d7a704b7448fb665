"""The one way to make an amount of money.

Floats are banned: 0.1 + 0.2 != 0.3 in binary floating point, and a ledger that
cannot add up to the cent is worthless. Every amount is a ``decimal.Decimal``
built by :func:`money`, exact to ``SCALE`` decimal places (a picounit: 1e-12 of
a currency unit). FOCUS exports carry 10 and 11 significant decimals (the FinOps
Foundation sample does), so 12 keeps every real-world value exact; a value with
more digits is rounded half-even to 12 places and counted, never dropped silently.

Rounding policy (the only one): an amount is rounded half-up to its currency's minor
unit (:func:`minor_digits`: ISO 4217, 0 for JPY/KRW, 3 for KWD/BHD, 2 by default) by
:func:`round_minor`, once, at document-line level (an allocation line: one service of
one project's fund); every total is a sum of rounded lines, so every document adds up.

Leftover policy (the only one, :func:`distribute`): when a rounded amount is divided
into parts (fund splits, kinds of line, account codes, subsidies), each part is its
exact share truncated toward zero to the minor unit, and the units left over (fewer
than the number of parts) all go to the part largest in absolute value, ties to the
first in the order given. The parts always add up to the amount exactly.

Formatting for people is :mod:`openchargeback.rendering.amounts` (Babel, with the
branding's locale); machine formats (JSON, CSV) use :func:`to_str` (exact) or
:func:`minor_text` (at the currency's minor unit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import overload

SCALE = 12
QUANTUM = Decimal(1).scaleb(-SCALE)
PICOS = 10**SCALE
ZERO = Decimal(0)

# ISO 4217 currencies whose minor unit is not the hundredth (every other code: 2).
_MINOR_DIGITS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV")
        + ("XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}

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


def minor_digits(currency: str | None) -> int:
    """Decimal places of the currency's minor unit (ISO 4217): 2 for USD, 0 for JPY, 3 for KWD."""
    return _MINOR_DIGITS.get((currency or "").strip().upper(), 2)


def round_minor(d: Decimal, minor_digits: int = 2) -> Decimal:
    """Round half-up to ``minor_digits`` places (the currency's minor unit: see
    :func:`round_currency`)."""
    return d.quantize(Decimal(1).scaleb(-minor_digits), rounding=ROUND_HALF_UP, context=_CTX)


def round_currency(d: Decimal, currency: str | None) -> Decimal:
    """Round half-up to the minor unit of ``currency`` (the rounding policy above)."""
    return round_minor(d, minor_digits(currency))


def minor_text(d: Decimal | None, currency: str | None) -> str:
    """Plain decimal text at the currency's minor unit, for machine formats (CSV):
    ``"1062.50"`` (USD), ``"19089"`` (JPY), ``"-3.125"`` (KWD); ``""`` for None."""
    return "" if d is None else format(round_currency(d, currency), "f")


def distribute(
    amount: Decimal, exact: Sequence[Decimal], digits: int, ties: Sequence[str] | None = None
) -> tuple[Decimal, ...]:
    """``amount`` (already at ``digits`` places) divided into parts near ``exact`` by the
    leftover policy above: each exact share truncated toward zero, the rest to the
    largest in absolute value (ties: the smallest of ``ties``, else the first given)."""
    if not exact:
        return ()
    q = Decimal(1).scaleb(-digits)
    parts = [e.quantize(q, rounding=ROUND_DOWN, context=_CTX) for e in exact]
    rest = _CTX.subtract(amount, total(parts))
    if rest:
        largest = min(range(len(exact)), key=lambda i: (-abs(exact[i]), ties[i] if ties else "", i))
        parts[largest] = _CTX.add(parts[largest], rest)
    return tuple(parts)


def proportional(
    amount: Decimal, weights: Sequence[Decimal], digits: int, ties: Sequence[str] | None = None
) -> tuple[Decimal, ...]:
    """``amount`` divided in proportion to ``weights`` by :func:`distribute` (weights
    adding up to zero: the whole to the largest weight)."""
    whole = total(weights)
    if not whole:
        exact = [ZERO] * len(weights)
        if weights:
            exact[min(range(len(weights)), key=lambda i: -abs(weights[i]))] = amount
        return distribute(amount, exact, digits, ties)
    return distribute(amount, [_CTX.divide(_CTX.multiply(amount, w), whole) for w in weights], digits, ties)


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
