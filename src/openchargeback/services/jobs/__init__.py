"""Background jobs of the web: imports of uploaded files (:mod:`.imports`, rows in the
database) and statement generation and sending (:mod:`.statements`).
"""

from openchargeback.services.jobs.imports import (
    Runner,
    TooLarge,
    Upload,
    get_job,
    guess,
    recent_jobs,
    start_import,
)
from openchargeback.services.jobs.statements import StatementRunner

__all__ = [
    "Runner",
    "StatementRunner",
    "TooLarge",
    "Upload",
    "get_job",
    "guess",
    "recent_jobs",
    "start_import",
]
