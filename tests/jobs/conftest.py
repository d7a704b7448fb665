"""Job fixtures: the SMTP fault server of the statement tests (a send killed mid-way), the
journal tests' context."""

from journal.conftest import make_journal_ctx  # noqa: F401 (a fixture)
from statements.conftest import fault_smtp  # noqa: F401 (a fixture)
