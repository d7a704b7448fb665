"""Importing FOCUS files into the ledger: load one file in one transaction
(:mod:`.loading`), flag its rows for review (:mod:`.flagging`), check a file without the
database (:mod:`.validate`), and the import history (:mod:`.history`).

Names load on first use: loading a file needs pyarrow and numpy, and commands that only
read the history (``imports``, the dashboard) should not pay for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openchargeback.services.ingest.history import (
        ImportDetail,
        ImportSummary,
        get_import,
        list_imports,
        summary_of,
    )
    from openchargeback.services.ingest.loading import IngestResult, ingest
    from openchargeback.services.ingest.validate import validate_file

_FROM = {
    "ImportDetail": "history",
    "ImportSummary": "history",
    "get_import": "history",
    "list_imports": "history",
    "summary_of": "history",
    "IngestResult": "loading",
    "ingest": "loading",
    "validate_file": "validate",
}
__all__ = [
    "ImportDetail",
    "ImportSummary",
    "IngestResult",
    "get_import",
    "ingest",
    "list_imports",
    "summary_of",
    "validate_file",
]


def __getattr__(name: str) -> Any:
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_FROM[name]}"), name)
