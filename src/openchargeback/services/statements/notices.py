"""Notices of withdrawn or superseded statements: a statement version that was sent and
is later superseded or withdrawn is announced to the PI it was sent to (and the CCs of
the message that carried it), once, by a short plain-text message naming the old number
and version and what replaced it (number, version, amount due) or that nothing is due.

A notice is a message of the email log like any other (``kind`` "notice"): it claims
the retired versions it announces before its SMTP conversation starts, so two batches
never send it twice, and it has the same states (sent, partial, failed, in doubt). A
version counts as announced once a notice carrying it was delivered; a failed notice is
planned again by the next send. No notice is sent when the version that replaced it is
current and goes to the same PI: their next statement message carries it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openchargeback.rendering import amounts
from openchargeback.storage import statements as store

KIND = "notice"


@dataclass(frozen=True)
class Pending:
    """The retired versions to announce to one PI, and the CCs of their messages."""

    pi_email: str
    rows: tuple[Any, ...]
    cc: tuple[str, ...]


def pending(conn: Any, period_id: int, *, pi: str | None = None, project: str | None = None) -> list[Pending]:
    """Per PI, the sent versions now superseded or withdrawn that no delivered notice
    announced and no unfinished message holds."""
    retired = [
        r
        for r in store.retired_sent(conn, period_id)
        if r.pi_email
        and (pi is None or r.pi_email.lower() == pi.lower())
        and (project is None or r.project_id == project)
    ]
    if not retired:
        return []
    ids = [r.id for r in retired]
    announced = {s for s, msgs in store.carried_by(conn, ids, kind=KIND).items() if msgs}
    held = store.claims(conn, ids)
    current = list(store.current(conn, period_id))
    todo = []
    for r in retired:
        if r.id in announced or r.id in held:
            continue
        new = replacement(conn, r, current)
        if new is not None and new.status == "current" and (new.pi_email or "").lower() == r.pi_email.lower():
            continue  # the PI's next statement message carries the new version
        todo.append(r)
    carriers = store.carried_by(conn, [r.id for r in todo], kind=None)
    by_pi: dict[str, list[Any]] = {}
    for r in todo:
        by_pi.setdefault(r.pi_email, []).append(r)
    out = []
    for pi_email, rows in sorted(by_pi.items()):
        cc: list[str] = []
        for r in rows:
            msgs = carriers.get(r.id) or []
            if msgs:  # the CCs of the last message that delivered it
                for a in json.loads(msgs[-1].recipients).get("cc", []):
                    if a.lower() not in {c.lower() for c in cc} and a.lower() != pi_email.lower():
                        cc.append(a)
        out.append(Pending(pi_email, tuple(rows), tuple(cc)))
    return out


def replacement(conn: Any, row: Any, current: Sequence[Any] | None = None) -> Any | None:
    """What replaced a retired version: the version at the end of its chain of
    supersessions when that is current; for a withdrawn project statement, the current
    statement of the same project and currency under another PI (the project moved);
    else None (nothing is due any more)."""
    end = row
    seen = {row.id}
    while end.superseded_by_id is not None and end.superseded_by_id not in seen:
        (nxt,) = store.by_ids(conn, [end.superseded_by_id])
        seen.add(nxt.id)
        end = nxt
    if end.status == "current":
        return end
    if end.kind != "project" or end.project_id is None:
        return None
    if current is None:
        current = store.current(conn, end.period_id)
    moved = [
        c
        for c in current
        if c.kind == "project"
        and c.project_id == end.project_id
        and c.currency == end.currency
        and (c.pi_email or "").lower() != (end.pi_email or "").lower()
    ]
    return moved[0] if moved else None


def replacements(conn: Any, rows: Sequence[Any]) -> dict[int, Any | None]:
    if not rows:
        return {}
    current = list(store.current(conn, rows[0].period_id))
    return {r.id: replacement(conn, r, current) for r in rows}


def subject(organisation: str, period: str) -> str:
    return f"{organisation}: correction to your statement for {period}"


def body(
    pi_email: str | None,
    period: str,
    rows: Sequence[Any],
    new: dict[int, Any | None],
    organisation: str,
    contact: str | None,
    symbol: str | None,
    locale: str = amounts.DEFAULT_LOCALE,
    site_currency: str = "USD",
) -> str:
    """The plain text of a notice (``symbol``: the sign of ``site_currency``; another
    currency takes its own)."""

    def amount(value: Decimal, currency: str) -> str:
        if symbol:
            sign = symbol if currency.upper() == site_currency.upper() else True
            return amounts.money(value, currency, locale, symbol=sign)
        return f"{currency} {amounts.money(value, currency, locale, symbol=False)}"

    lines = [
        f"Dear {pi_email or 'colleague'},",
        "",
        f"The following statement(s) for {period} that we sent you earlier are no longer valid:",
        "",
    ]
    for r in rows:
        what = f"project {r.project_id}" if r.project_id else "your summary"
        old = f"- {r.number} version {r.version} ({what}, {amount(r.due_total, r.currency)} due) "
        n = new.get(r.id)
        if n is None:
            lines.append(old + "is withdrawn: nothing is due on it.")
        elif (n.pi_email or "").lower() == (r.pi_email or "").lower():
            lines.append(
                old + f"is replaced by {n.number} version {n.version}: "
                f"{amount(n.due_total, n.currency)} due, sent to you separately."
            )
        else:
            lines.append(
                old + f"is withdrawn: the charges are now billed to another PI on {n.number} "
                f"version {n.version} ({amount(n.due_total, n.currency)} due); nothing is due from you on it."
            )
    lines += ["", "Please disregard the earlier version(s).", "", organisation]
    if contact:
        lines.append(contact)
    return "\n".join(lines) + "\n"
