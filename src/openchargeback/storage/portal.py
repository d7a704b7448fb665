"""Repositories of the portal tables: PI links, API tokens, disputes, statement
acknowledgements and external identities (see portal_tables)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Select, case, delete, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from openchargeback.storage.auth_tables import users
from openchargeback.storage.portal_tables import (
    api_tokens,
    charge_disputes,
    external_identities,
    pi_links,
    statement_acks,
)
from openchargeback.storage.registry_tables import pis, projects
from openchargeback.storage.statement_tables import statements
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import charge_details, charges, imports, periods, sources
from openchargeback.storage.types import AnyRow, inserted_id


# -- links -------------------------------------------------------------------------------------
def held(conn: Connection, user_id: int) -> list[str]:
    return list(conn.execute(select(pi_links.c.pi_email).where(pi_links.c.user_id == user_id)).scalars())


def links(conn: Connection, *, user_id: int | None = None, pi_email: str | None = None) -> Sequence[AnyRow]:
    q = select(pi_links, users.c.username, users.c.role).join(users, users.c.id == pi_links.c.user_id)
    if user_id is not None:
        q = q.where(pi_links.c.user_id == user_id)
    if pi_email is not None:
        q = q.where(pi_links.c.pi_email == pi_email)
    return conn.execute(q.order_by(users.c.username, pi_links.c.pi_email)).all()


def add_link(
    conn: Connection, user_id: int, pi_email: str, kind: str, granted_by: str, now: datetime
) -> bool:
    """False when the user already holds the PI (the primary key decides, not a read)."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(pi_links).values(
                    user_id=user_id, pi_email=pi_email, kind=kind, granted_by=granted_by, created_at=now
                )
            )
    except IntegrityError:
        return False
    return True


def remove_link(conn: Connection, user_id: int, pi_email: str) -> int:
    return conn.execute(
        delete(pi_links).where(pi_links.c.user_id == user_id, pi_links.c.pi_email == pi_email)
    ).rowcount


def pi_exists(conn: Connection, email: str) -> bool:
    return conn.execute(select(pis.c.email).where(pis.c.email == email)).first() is not None


def projects_of(conn: Connection, pi_emails: Sequence[str]) -> Sequence[AnyRow]:
    return conn.execute(
        select(projects).where(projects.c.pi_email.in_(pi_emails)).order_by(projects.c.project_id)
    ).all()


def pis_named(conn: Connection, pi_emails: Sequence[str]) -> Sequence[AnyRow]:
    return conn.execute(select(pis).where(pis.c.email.in_(pi_emails)).order_by(pis.c.email)).all()


# -- statements sent to PIs -------------------------------------------------------------------
def sent_statements(conn: Connection, pi_emails: Sequence[str] | None) -> Sequence[AnyRow]:
    """Every version that went out, newest period first, with its acknowledgement."""
    q = (
        select(
            statements.c.id,
            statements.c.number,
            statements.c.version,
            statements.c.kind,
            statements.c.pi_email,
            statements.c.project_id,
            statements.c.currency,
            statements.c.status,
            statements.c.due_total,
            statements.c.list_total,
            statements.c.sent_at,
            periods.c.name.label("period"),
            statement_acks.c.acknowledged_by,
            statement_acks.c.acknowledged_at,
        )
        .join(periods, periods.c.id == statements.c.period_id)
        .outerjoin(statement_acks, statement_acks.c.statement_id == statements.c.id)
        .where(statements.c.sent_at.is_not(None))
    )
    if pi_emails is not None:
        q = q.where(statements.c.pi_email.in_(pi_emails))
    return conn.execute(q.order_by(periods.c.name.desc(), statements.c.number, statements.c.version)).all()


def add_ack(conn: Connection, statement_id: int, by: str, now: datetime) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(
                insert(statement_acks).values(
                    statement_id=statement_id, acknowledged_by=by, acknowledged_at=now
                )
            )
    except IntegrityError:
        return False
    return True


# -- disputes ----------------------------------------------------------------------------------
def charge_owner(conn: Connection, charge_id: int) -> AnyRow | None:
    return conn.execute(
        select(charges.c.id, charges.c.pi_email, periods.c.name.label("period"))
        .join(periods, periods.c.id == charges.c.period_id)
        .where(charges.c.id == charge_id)
    ).first()


def add_dispute(conn: Connection, values: dict[str, Any]) -> int | None:
    """None when the charge already has an open dispute (the unique constraint decides)."""
    try:
        with conn.begin_nested():
            return inserted_id(conn.execute(insert(charge_disputes).values(open=True, **values)))
    except IntegrityError:
        return None


def _disputes() -> Select[Any]:
    """Disputes with the number and version of the statement a line's dispute is of."""
    return select(charge_disputes, statements.c.number, statements.c.version).outerjoin(
        statements, statements.c.id == charge_disputes.c.statement_id
    )


def disputes(
    conn: Connection,
    *,
    pi_emails: Sequence[str] | None = None,
    open_only: bool = False,
    charge_ids: Sequence[int] | None = None,
    statement_id: int | None = None,
    line: str | None = None,
) -> Sequence[AnyRow]:
    q = _disputes()
    if pi_emails is not None:
        q = q.where(charge_disputes.c.pi_email.in_(pi_emails))
    if open_only:
        q = q.where(charge_disputes.c.open == true())
    if charge_ids is not None:
        q = q.where(charge_disputes.c.charge_id.in_(charge_ids))
    if statement_id is not None:
        q = q.where(charge_disputes.c.statement_id == statement_id, charge_disputes.c.line == line)
    return conn.execute(q.order_by(charge_disputes.c.id.desc())).all()


def dispute_list(
    conn: Connection, *, pi_emails: Sequence[str] | None, before: int | None, limit: int
) -> list[SimpleNamespace]:
    """One row per dispute as the PI raised it (a line's disputes of its charges are one,
    ``first`` its lowest id), newest first, ``first < before``: its charge's period (of the
    line's statement, or of the import that withdrew the charge, when the charge is gone)
    and what the PI pays for its charges that still exist (``due``; None when none does)."""
    charge_period, statement_period = periods.alias("charge_period"), periods.alias("statement_period")
    due = case(
        (sources.c.cost_basis == "effective", func.coalesce(charges.c.effective_cost, charges.c.billed_cost)),
        else_=charges.c.billed_cost,
    )
    d = charge_disputes.c
    same = (
        d.pi_email, d.reason, d.raised_by, d.raised_at, d.open, d.decision, d.reply, d.decided_by,
        d.decided_at, d.statement_id, d.line, d.remedy, d.withdrawn_by_import,
    )  # fmt: skip
    first = func.min(d.id)
    q = (
        select(
            first.label("id"),
            func.min(d.charge_id).label("charge_id"),
            *same,
            func.count().label("charges"),
            func.count(charges.c.id).label("live"),
            *money_sum(conn.dialect.name, due, "due"),
            func.max(charges.c.billing_currency).label("currency"),
            func.coalesce(
                func.max(charge_period.c.name), func.max(statement_period.c.name), func.max(imports.c.periods)
            ).label("period"),
            func.max(statements.c.number).label("number"),
            func.max(statements.c.version).label("version"),
        )
        .select_from(charge_disputes)
        .outerjoin(charges, charges.c.id == d.charge_id)
        .outerjoin(sources, sources.c.id == charges.c.source_id)
        .outerjoin(charge_period, charge_period.c.id == charges.c.period_id)
        .outerjoin(statements, statements.c.id == d.statement_id)
        .outerjoin(statement_period, statement_period.c.id == statements.c.period_id)
        .outerjoin(imports, imports.c.id == d.withdrawn_by_import)
        # a charge's own dispute is a group of one; a line's group by what they share
        .group_by(case((d.statement_id.is_(None), d.id), else_=None), *same)
        .order_by(first.desc())
        .limit(limit)
    )
    if pi_emails is not None:
        q = q.where(d.pi_email.in_(pi_emails))
    if before is not None:
        q = q.having(first < before)
    dialect = conn.dialect.name
    return [
        SimpleNamespace(
            **{k: v for k, v in r._mapping.items() if not k.startswith("due")},
            due=read_sum(dialect, r, "due"),
        )
        for r in conn.execute(q)
    ]


def dispute(conn: Connection, dispute_id: int) -> AnyRow | None:
    return conn.execute(_disputes().where(charge_disputes.c.id == dispute_id)).first()


def sent_statement_row(conn: Connection, statement_id: int) -> AnyRow:
    return conn.execute(select(statements).where(statements.c.id == statement_id)).one()


def open_disputed(conn: Connection, period_id: int) -> list[int]:
    """Ids of the period's charges with an open dispute (few: the queue's "disputed")."""
    return list(
        conn.execute(
            select(charge_disputes.c.charge_id)
            .join(charges, charges.c.id == charge_disputes.c.charge_id)
            .where(charges.c.period_id == period_id, charge_disputes.c.open == true())
            .order_by(charge_disputes.c.charge_id)
        ).scalars()
    )


def dispute_group(conn: Connection, row: AnyRow) -> list[int]:
    """The ids decided together with dispute ``row``: every open one of its statement
    line, else itself."""
    if row.statement_id is None:
        return [row.id]
    return list(
        conn.execute(
            select(charge_disputes.c.id).where(
                charge_disputes.c.statement_id == row.statement_id,
                charge_disputes.c.line == row.line,
                charge_disputes.c.open == true(),
            )
        ).scalars()
    )


def disputed_charges(conn: Connection, dispute_ids: Sequence[int]) -> Sequence[AnyRow]:
    """The charges of the disputes, with their period and the amount the PI pays
    (``due``: billed or effective cost, by the source's cost basis)."""
    due = case(
        (sources.c.cost_basis == "effective", func.coalesce(charges.c.effective_cost, charges.c.billed_cost)),
        else_=charges.c.billed_cost,
    )
    return conn.execute(
        select(
            charges.c.id,
            charges.c.period_id,
            charges.c.pi_email,
            charges.c.project_id,
            charges.c.fund_org,
            charges.c.source_id,
            charges.c.billing_currency.label("currency"),
            charges.c.review,
            charges.c.flags,
            due.label("due"),
            sources.c.name.label("source"),
        )
        .join(charge_disputes, charge_disputes.c.charge_id == charges.c.id)
        .join(sources, sources.c.id == charges.c.source_id)
        .where(charge_disputes.c.id.in_(dispute_ids))
        .order_by(charges.c.id)
    ).all()


def line_charges(
    conn: Connection,
    period_id: int,
    *,
    pi_email: str | None,
    project_id: str | None,
    currency: str,
    source: str | None,
    service: str | None,
    fund_org: str | None,
) -> list[int]:
    """Ids of the billed (not rejected) charges behind a statement line: the statement's
    period, PI, project and currency, the line's source and service, and its fund when
    charges carry it (a split line's fund is the split's, not the charges')."""
    q = (
        select(charges.c.id, charges.c.fund_org)
        .join(sources, sources.c.id == charges.c.source_id)
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .where(
            charges.c.period_id == period_id,
            charges.c.pi_email == pi_email if pi_email is not None else charges.c.pi_email.is_(None),
            charges.c.project_id == project_id if project_id is not None else charges.c.project_id.is_(None),
            charges.c.billing_currency == currency,
            or_(sources.c.display_name == source, sources.c.name == source),  # as the line shows it
            charge_details.c.service_name == service
            if service is not None
            else charge_details.c.service_name.is_(None),
            or_(charges.c.review.is_(None), charges.c.review != "rejected"),
        )
        .order_by(charges.c.id)
    )
    rows = conn.execute(q).all()
    of_fund = [r.id for r in rows if fund_org is not None and r.fund_org == fund_org]
    return of_fund or [r.id for r in rows]


def add_line_disputes(conn: Connection, charge_ids: Sequence[int], values: dict[str, Any]) -> int:
    """One open dispute per charge of a line (charges with an open dispute already keep
    theirs); how many were added."""
    busy = set(
        conn.execute(
            select(charge_disputes.c.charge_id).where(
                charge_disputes.c.charge_id.in_(charge_ids), charge_disputes.c.open == true()
            )
        ).scalars()
    )
    rows = [{"charge_id": i, "open": True, **values} for i in charge_ids if i not in busy]
    if rows:
        conn.execute(insert(charge_disputes), rows)
    return len(rows)


def decide_disputes(
    conn: Connection,
    dispute_ids: Sequence[int],
    *,
    decision: str,
    reply: str,
    by: str,
    now: datetime,
) -> int:
    """Only open disputes are decided (a conditional update: of two reviewers deciding
    at once, the second decides none); how many were."""
    return conn.execute(
        update(charge_disputes)
        .where(charge_disputes.c.id.in_(dispute_ids), charge_disputes.c.open == true())
        .values(open=None, decision=decision, reply=reply, decided_by=by, decided_at=now)
    ).rowcount


def set_remedy(conn: Connection, dispute_ids: Sequence[int], remedy: str | None) -> None:
    conn.execute(update(charge_disputes).where(charge_disputes.c.id.in_(dispute_ids)).values(remedy=remedy))


def move_disputes(conn: Connection, moves: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Re-point the disputes of replaced charges to the rows that replace them:
    (dispute id, old charge id, new charge id)."""
    moved = []
    for old, new in moves:
        for did in conn.execute(
            select(charge_disputes.c.id).where(charge_disputes.c.charge_id == old)
        ).scalars():
            moved.append((did, old, new))
        conn.execute(update(charge_disputes).where(charge_disputes.c.charge_id == old).values(charge_id=new))
    return moved


def withdraw_disputes(
    conn: Connection, charge_ids: Sequence[int], *, import_id: int, reply: str, by: str, now: datetime
) -> list[AnyRow]:
    """Mark the disputes of charges a --replace removes: an open one is closed as
    ``withdrawn`` with ``reply``; a decided one keeps its decision. Returns them as they were."""
    rows = list(
        conn.execute(select(charge_disputes).where(charge_disputes.c.charge_id.in_(charge_ids))).all()
    )
    for r in rows:
        note = (
            f"charge withdrawn by import #{import_id} (a --replace re-import without it), so it is not billed"
        )
        values: dict[str, Any] = {
            "remedy": f"{r.remedy}; {note}" if r.remedy else note,
            "withdrawn_by_import": import_id,
        }
        if r.open:
            values |= {
                "open": None,
                "decision": "withdrawn",
                "reply": reply,
                "decided_by": by,
                "decided_at": now,
            }
        conn.execute(update(charge_disputes).where(charge_disputes.c.id == r.id).values(**values))
    return rows


def newest_open_period(conn: Connection) -> AnyRow | None:
    return conn.execute(
        select(periods).where(periods.c.status == "open").order_by(periods.c.name.desc()).limit(1)
    ).first()


# -- tokens ------------------------------------------------------------------------------------
def add_token(conn: Connection, values: dict[str, Any]) -> int:
    return inserted_id(conn.execute(insert(api_tokens).values(**values)))


def token_by_hash(conn: Connection, token_hash: str) -> AnyRow | None:
    return conn.execute(
        select(api_tokens, users.c.username, users.c.role, users.c.disabled)
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.token_hash == token_hash)
    ).first()


def tokens(conn: Connection, user_id: int | None = None) -> Sequence[AnyRow]:
    q = select(api_tokens, users.c.username).join(users, users.c.id == api_tokens.c.user_id)
    if user_id is not None:
        q = q.where(api_tokens.c.user_id == user_id)
    return conn.execute(q.order_by(api_tokens.c.id)).all()


def revoke_token(conn: Connection, token_id: int, now: datetime, user_id: int | None = None) -> bool:
    q = update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
    if user_id is not None:
        q = q.where(api_tokens.c.user_id == user_id)
    return conn.execute(q.values(revoked_at=now)).rowcount == 1


def touch_token(conn: Connection, token_id: int, now: datetime) -> None:
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))


# -- external identities ----------------------------------------------------------------------
def identity(conn: Connection, issuer: str, subject: str) -> AnyRow | None:
    return conn.execute(
        select(external_identities).where(
            external_identities.c.issuer == issuer, external_identities.c.subject == subject
        )
    ).first()


def add_identity(conn: Connection, values: dict[str, Any]) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(insert(external_identities).values(**values))
    except IntegrityError:
        return False
    return True


def touch_identity(conn: Connection, issuer: str, subject: str, now: datetime, email: str | None) -> None:
    conn.execute(
        update(external_identities)
        .where(external_identities.c.issuer == issuer, external_identities.c.subject == subject)
        .values(last_login_at=now, email=email)
    )


def identities_of(conn: Connection, user_id: int) -> Sequence[AnyRow]:
    return conn.execute(select(external_identities).where(external_identities.c.user_id == user_id)).all()
