"""Importing FOCUS files into the ledger: load one file in one transaction
(:mod:`.loading`), flag its rows for review (:mod:`.flagging`), check a file without the
database (:mod:`.validate`), and the import history (:mod:`.history`).
"""

from openchargeback.services.ingest.flagging import tags_dict
from openchargeback.services.ingest.history import (
    ImportDetail,
    ImportSummary,
    get_import,
    list_imports,
    summary_of,
)
from openchargeback.services.ingest.loading import IngestResult, ingest
from openchargeback.services.ingest.validate import validate_file

__all__ = [
    "ImportDetail",
    "ImportSummary",
    "IngestResult",
    "get_import",
    "ingest",
    "list_imports",
    "summary_of",
    "tags_dict",
    "validate_file",
]
