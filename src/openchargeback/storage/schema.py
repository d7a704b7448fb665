"""Every table of the schema, for Alembic and the schema test. A module that defines
tables on ``tables.metadata`` is imported here."""

from openchargeback.storage import (
    allowance_tables,
    auth_tables,
    journal_tables,
    portal_tables,
    registry_tables,
    review_tables,
    statement_tables,
    tables,
)
from openchargeback.storage.tables import metadata

__all__ = [
    "allowance_tables",
    "auth_tables",
    "journal_tables",
    "metadata",
    "portal_tables",
    "registry_tables",
    "review_tables",
    "statement_tables",
    "tables",
]
