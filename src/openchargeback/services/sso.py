"""Single sign-on: a person vouched for by the OpenID Provider (or by a trusted proxy's
headers) gets a session. At first sign-in the user is provisioned with the role their
groups map to (``sso.group_roles``, else ``sso.default_role``, else refused); a pi user
is linked to the registry PI of their verified email. Later sign-ins keep the role an
admin may have changed. A user an admin created beforehand, named by the person's
verified email, is taken over by their first sign-in."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from openchargeback.domain.roles import NotAuthenticated, Role
from openchargeback.services import audit
from openchargeback.services.auth import Login, open_session
from openchargeback.services.context import Context
from openchargeback.services.portal import link_by_email
from openchargeback.services.users import hash_password
from openchargeback.storage import portal as repo
from openchargeback.storage import users as users_repo

_NOT_NAME = re.compile(r"[^a-z0-9_.@-]")


@dataclass(frozen=True)
class Identity:
    issuer: str  # the OpenID Provider's issuer, or "header:<user header>"
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    groups: tuple[str, ...]


def role_for(ctx: Context, groups: tuple[str, ...]) -> Role | None:
    """The most powerful role any of the groups maps to, else the default role."""
    mapped = {Role(ctx.settings.sso.group_roles[g]) for g in groups if g in ctx.settings.sso.group_roles}
    for role in (Role.ADMIN, Role.REVIEWER, Role.VIEWER, Role.PI, Role.DELEGATE):
        if role in mapped:
            return role
    default = ctx.settings.sso.default_role
    return Role(default) if default else None


def _refuse(ctx: Context, who: str, why: str, ip: str) -> NotAuthenticated:
    audit.record(ctx.as_actor(who), "login.failure", who, why, ip)
    return NotAuthenticated(f"sign-in refused: {why}")


def sign_in(ctx: Context, ident: Identity, *, ip: str, user_agent: str | None = None) -> Login:
    sso = ctx.settings.sso
    email = (ident.email or "").strip().lower() or None
    who = email or ident.subject
    if sso.allowed_domains:
        domain = email.rsplit("@", 1)[-1] if email and "@" in email else ""
        if not ident.email_verified or domain not in {d.lower() for d in sso.allowed_domains}:
            raise _refuse(ctx, who, f"email domain of {who!r} is not allowed (sso.allowed_domains)", ip)
    now = ctx.clock()
    try:
        try:
            username = _provision(ctx, ident, email, who, now, ip)
        except IntegrityError:
            # a concurrent first sign-in of the same person (two tabs, two workers)
            # provisioned them first: its committed user and identity are found now
            username = _provision(ctx, ident, email, who, now, ip)
    except _Refused as exc:  # its transaction rolled back; the refusal is logged apart
        raise _refuse(ctx, who, str(exc), ip) from None
    return open_session(ctx, username, ip=ip, user_agent=user_agent, how=f"sso {ident.issuer}")


class _Refused(Exception):
    pass


def _provision(ctx: Context, ident: Identity, email: str | None, who: str, now, ip: str) -> str:
    """The user of this identity (provisioned, bound and linked in one transaction)."""
    with ctx.write() as conn:
        known = repo.identity(conn, ident.issuer, ident.subject)
        if known is not None:
            user = users_repo.get_by_id(conn, known.user_id)
            repo.touch_identity(conn, ident.issuer, ident.subject, now, email)
        else:
            vouched = email if ident.email_verified and email else ident.subject
            name = _NOT_NAME.sub("-", vouched.lower())[:64]
            user = users_repo.get(conn, name)
            if user is not None and not (ident.email_verified and email == name):
                raise _Refused(f"a local user {name!r} exists; an admin must rename it")
            if user is None:
                role = role_for(ctx, ident.groups)
                if role is None:
                    raise _Refused("none of the person's groups maps to a role (sso.group_roles)")
                unusable = hash_password(secrets.token_urlsafe(32))  # no password: sign-on only
                users_repo.add(conn, name, unusable, role.value, from_config=False, now=now)
                user = users_repo.get(conn, name)
                audit.record_in(conn, ctx.as_actor("sso"), "user.provision", name, f"role {role.value}", ip)
            assert user is not None
            repo.add_identity(
                conn,
                {
                    "issuer": ident.issuer,
                    "subject": ident.subject,
                    "user_id": user.id,
                    "email": email,
                    "created_at": now,
                    "last_login_at": now,
                },
            )
        if user is None:  # the identity's user was removed
            raise NotAuthenticated(f"the account of {who!r} no longer exists; ask an admin")
        if user.role == Role.PI and email and ident.email_verified:
            link_by_email(conn, user.id, email, "sso", now)
        return str(user.username)


def has_identity(ctx: Context, user_id: int, issuer: str) -> bool:
    with ctx.read() as conn:
        return any(r.issuer == issuer for r in repo.identities_of(conn, user_id))
