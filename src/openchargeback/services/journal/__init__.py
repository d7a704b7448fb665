"""Journal (GL) files: export a period's journal and keep the record of every export
(:mod:`.export`), from the postings of its allocation (:mod:`.data`).
"""

from openchargeback.services.journal.data import entries_from, funded_subsidies
from openchargeback.services.journal.export import (
    ExportInfo,
    ExportResult,
    control_file,
    export_file,
    export_journal,
    get_export,
    list_exports,
    list_formats,
)

__all__ = [
    "ExportInfo",
    "ExportResult",
    "control_file",
    "entries_from",
    "export_file",
    "export_journal",
    "funded_subsidies",
    "get_export",
    "list_exports",
    "list_formats",
]
