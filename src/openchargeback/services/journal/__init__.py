"""Journal (GL) files: export a period's journal and keep the record of every export
(:mod:`.export`), from the postings of its allocation (:mod:`.data`).
"""

from openchargeback.services.journal.data import entries_from
from openchargeback.services.journal.export import (
    ExportInfo,
    ExportResult,
    export_file,
    export_journal,
    get_export,
    list_exports,
    list_formats,
)

__all__ = [
    "ExportInfo",
    "ExportResult",
    "entries_from",
    "export_file",
    "export_journal",
    "get_export",
    "list_exports",
    "list_formats",
]
