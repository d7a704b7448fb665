"""Converters: Slurm, storage-usage and CSV inputs to FOCUS priced by a rate table, with
the allowance ledger (:mod:`.conversion`), and the rate tables themselves (:mod:`.rates`).

Names load on first use: converting needs pyarrow, showing rates does not.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openchargeback.services.convert.conversion import (
        ConvertRequest,
        ConvertResult,
        convert,
        convert_file,
        convert_files,
    )
    from openchargeback.services.convert.rates import check_rates, rates_in_force

_FROM = {
    "ConvertRequest": "conversion",
    "ConvertResult": "conversion",
    "convert": "conversion",
    "convert_file": "conversion",
    "convert_files": "conversion",
    "check_rates": "rates",
    "rates_in_force": "rates",
}
__all__ = [
    "ConvertRequest",
    "ConvertResult",
    "check_rates",
    "convert",
    "convert_file",
    "convert_files",
    "rates_in_force",
]


def __getattr__(name: str) -> Any:
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_FROM[name]}"), name)
