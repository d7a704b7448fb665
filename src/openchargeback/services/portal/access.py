"""Who holds which registry PIs: a pi user holds the PIs of their verified email, a
delegate the PIs an admin or one of those PIs granted. :func:`scope_for` turns a user
into the :class:`Scope` every portal and API read is filtered by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.roles import SCOPED, Forbidden, Role
from openchargeback.domain.scope import ALL, Scope
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.storage import portal as repo
from openchargeback.storage import users as users_repo


@dataclass(frozen=True)
class Link(Jsonable):
    username: str
    role: str
    pi_email: str
    kind: str  # pi | delegate
    granted_by: str
    created_at: datetime


def scope_for(ctx: Context, user_id: int, role: str) -> Scope:
    """Staff read everything; a pi or delegate only the PIs they hold (maybe none)."""
    if Role(role) not in SCOPED:
        return ALL
    with ctx.read() as conn:
        return Scope.of(repo.held(conn, user_id))


def _user(conn, username: str):
    row = users_repo.get(conn, username)
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    return row


def _pi(conn, email: str) -> str:
    key = email.strip().lower()
    if not repo.pi_exists(conn, key):
        raise NotFound(
            f"PI {key!r} is not in the registry (see `openchargeback registry list pis`)",
            web=f"PI {key!r} is not in the registry (the Registry page lists the PIs)",
        )
    return key


def link_pi(ctx: Context, username: str, pi_email: str, *, ip: str | None = None) -> Link:
    """Link a pi user to the registry PI of their (verified) email; an admin's act."""
    with ctx.write() as conn:
        return _add(ctx, conn, _user(conn, username), _pi(conn, pi_email), Role.PI, ip)


def grant(
    ctx: Context,
    delegate: str,
    pi_email: str,
    *,
    by_user_id: int | None = None,
    by_role: str = Role.ADMIN,
    ip: str | None = None,
) -> Link:
    """Let a delegate act for a PI. An admin grants any PI; a pi user only a PI they
    hold as its owner (a delegate cannot pass it on)."""
    with ctx.write() as conn:
        user, key = _user(conn, delegate), _pi(conn, pi_email)
        if by_role != Role.ADMIN:
            owned = {r.pi_email for r in repo.links(conn, user_id=by_user_id) if r.kind == "pi"}
            if by_role != Role.PI or key not in owned:
                raise Forbidden(f"only an admin or PI {key!r} may grant access to PI {key!r}")
        return _add(ctx, conn, user, key, Role.DELEGATE, ip)


# a link's kind is its user's role: (audit event, what the user's role must be)
_KINDS = {
    Role.PI: ("portal.link", "only a pi user is linked to a PI"),
    Role.DELEGATE: ("portal.grant", "access is granted to a delegate"),
}


def _add(ctx: Context, conn, user, key: str, kind: Role, ip: str | None) -> Link:
    """Link ``user``, whose role must be ``kind``, to PI ``key`` (a new link, audited)."""
    event, needed = _KINDS[kind]
    if user.role != kind:
        raise InvalidInput(f"user {user.username!r} has role {user.role}; {needed}")
    if not repo.add_link(conn, user.id, key, kind.value, ctx.actor, ctx.clock()):
        raise Conflict(f"user {user.username!r} holds PI {key!r} already")
    audit.record_in(conn, ctx, event, user.username, key, ip)
    return _one(conn, user.id, key)


def unlink(
    ctx: Context,
    username: str,
    pi_email: str,
    *,
    by_user_id: int | None = None,
    by_role: str = Role.ADMIN,
    ip: str | None = None,
) -> None:
    """Remove a link: an admin any, a PI the delegates of a PI they own."""
    with ctx.write() as conn:
        user, key = _user(conn, username), pi_email.strip().lower()
        if by_role != Role.ADMIN:
            owned = {r.pi_email for r in repo.links(conn, user_id=by_user_id) if r.kind == "pi"}
            if by_role != Role.PI or key not in owned or user.role != Role.DELEGATE:
                raise Forbidden(f"only an admin or PI {key!r} may revoke access to PI {key!r}")
        if not repo.remove_link(conn, user.id, key):
            raise NotFound(f"user {user.username!r} does not hold PI {key!r}")
        audit.record_in(conn, ctx, "portal.unlink", user.username, key, ip)


def list_links(ctx: Context, *, username: str | None = None, pi_email: str | None = None) -> tuple[Link, ...]:
    with ctx.read() as conn:
        uid = _user(conn, username).id if username else None
        rows = repo.links(conn, user_id=uid, pi_email=pi_email.strip().lower() if pi_email else None)
    return tuple(Link(r.username, r.role, r.pi_email, r.kind, r.granted_by, r.created_at) for r in rows)


def delegates_of(ctx: Context, scope: Scope) -> tuple[Link, ...]:
    """The delegates of the scope's PIs (what a PI manages on their portal)."""
    if scope.pis is None:
        return ()
    with ctx.read() as conn:
        rows = [r for p in sorted(scope.pis) for r in repo.links(conn, pi_email=p) if r.kind == "delegate"]
    return tuple(Link(r.username, r.role, r.pi_email, r.kind, r.granted_by, r.created_at) for r in rows)


def link_by_email(conn, user_id: int, email: str, actor: str, now: datetime) -> bool:
    """Inside a sign-on's transaction: link a pi user to the PI of their verified email,
    when the registry has one. True when linked (now or before)."""
    key = email.strip().lower()
    if not repo.pi_exists(conn, key):
        return False
    repo.add_link(conn, user_id, key, "pi", actor, now)
    return True


def _one(conn, user_id: int, key: str) -> Link:
    r = next(r for r in repo.links(conn, user_id=user_id) if r.pi_email == key)
    return Link(r.username, r.role, r.pi_email, r.kind, r.granted_by, r.created_at)
