"""Job fixtures: the SMTP fault server of the statement tests (a send killed mid-way)."""

from statements.conftest import fault_smtp  # noqa: F401 (a fixture)
