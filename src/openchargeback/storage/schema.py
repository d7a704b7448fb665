"""Every table of the schema, for Alembic and the schema test. A module that defines
tables on ``tables.metadata`` is imported here."""

from openchargeback.storage import allowance_tables, auth_tables, review_tables, tables
from openchargeback.storage import journal_tables  # noqa: F401  (journal exports)
from openchargeback.storage import registry_tables  # noqa: F401  (projects, funds, splits...)
from openchargeback.storage import statement_tables  # noqa: F401  (statements, email log)
from openchargeback.storage.tables import metadata

__all__ = ["allowance_tables", "auth_tables", "metadata", "review_tables", "tables"]
