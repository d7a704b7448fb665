"""Exact sums of money columns in SQL.

Amounts are BIGINT picounits. PostgreSQL's SUM(bigint) is NUMERIC and cannot
overflow. SQLite's SUM(integer) raises on 64-bit overflow, which a period of a few
million dollars in picounits could reach, so on SQLite each amount is split into
millionths (``v / 10^6``, truncating) and remainders (``v % 10^6``), summed
separately and recombined in Python: exact, and far from any overflow.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, func, literal, type_coerce
from sqlalchemy.sql import ColumnElement

from openchargeback.domain.money import from_picos
from openchargeback.storage.types import AnyRow

_SPLIT = 10**6


def money_sum(dialect: str, column: ColumnElement[Any], label: str) -> list[ColumnElement[Any]]:
    raw = type_coerce(column, BigInteger)  # picounits, without the Money conversion
    if dialect == "postgresql":
        return [func.coalesce(func.sum(raw), 0).label(label)]
    return [
        func.coalesce(func.sum(raw.op("/")(literal(_SPLIT))), 0).label(f"{label}__hi"),
        func.coalesce(func.sum(raw.op("%")(literal(_SPLIT))), 0).label(f"{label}__lo"),
    ]


def read_sum(dialect: str, row: AnyRow, label: str) -> Decimal:
    m = row._mapping
    if dialect == "postgresql":
        return from_picos(int(m[label]))
    return from_picos(int(m[f"{label}__hi"]) * _SPLIT + int(m[f"{label}__lo"]))
