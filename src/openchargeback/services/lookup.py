"""Finding a period or a source by name: the one place that says it does not exist.

Used inside the caller's transaction; every "no such period" and "unknown source" a
user sees comes from here, worded once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from openchargeback.domain.errors import NotFound
from openchargeback.domain.periods import Period
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import sources as sources_repo


def period(conn: Connection, name: str | Period) -> Any:
    """The period's row; NotFound when nothing created it yet."""
    p = name if isinstance(name, Period) else Period.parse(name)
    row = periods_repo.get(conn, p.name)
    if row is None:
        raise NotFound(
            f"period {p.name} does not exist (it is created by its first import or by "
            f"`openchargeback periods open {p.name}`)",
            web=f"period {p.name} does not exist: a period is created by its first import",
        )
    return row


def source(conn: Connection, name: str) -> Any:
    """The source's row; NotFound naming the known sources."""
    row = sources_repo.get(conn, name)
    if row is None:
        known = ", ".join(r.name for r in sources_repo.list_all(conn)) or "none"
        raise NotFound(
            f"unknown source {name!r} (known: {known}); declare it under `sources:` in "
            f"the config or add it with `openchargeback sources add`",
            web=f"unknown source {name!r} (known: {known}); an admin adds sources on the Sources page",
        )
    return row
