"""CSV that a spreadsheet will not execute.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read by spreadsheets as a formula (CSV injection). Such a cell is prefixed with an
apostrophe, unless it is a plain decimal number (a negative amount is data)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except (InvalidOperation, ValueError):
        return False


def lines(rows: Iterable[Iterable[object]]) -> str:
    """CSV text of ``rows`` (lists of values), every cell neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for r in rows:
        w.writerow([cell(v) for v in r])
    return buf.getvalue()
