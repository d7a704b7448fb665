"""The database as the operator sees it: its faults told in one message
(:func:`fault_of`), its checks (:mod:`.checks`), backup and restore (:mod:`.backup`)
and the copy to another database (:mod:`.copy`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from openchargeback.services.context import Context
from openchargeback.services.database.backup import BackupResult, backup_database, restore_database
from openchargeback.services.database.checks import (
    CHECKS,
    Check,
    CheckReport,
    CheckResult,
    check_database,
    register_check,
)
from openchargeback.services.database.copy import CopyResult, copy_database
from openchargeback.services.schema import upgrade_database
from openchargeback.storage import writers
from openchargeback.storage.db import HEAD_REVISION
from openchargeback.storage.faults import fault_of

# The driver errors a web handler turns into a page (with fault_of).
DRIVER_ERRORS: tuple[type[Exception], ...] = (DBAPIError, sqlite3.Error)


def tell_waits(ctx: Context, tell: Callable[[str], None]) -> None:
    """``tell`` hears, once per wait, that a write waits for an import writing its rows
    ("waiting for import #12 (FILE) to finish writing…"; storage.writers)."""
    writers.on_wait(ctx.engine, tell)


__all__ = [
    "CHECKS",
    "DRIVER_ERRORS",
    "HEAD_REVISION",
    "BackupResult",
    "Check",
    "CheckReport",
    "CheckResult",
    "CopyResult",
    "backup_database",
    "check_database",
    "copy_database",
    "fault_of",
    "register_check",
    "restore_database",
    "tell_waits",
    "upgrade_database",
]
