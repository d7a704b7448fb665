"""Sessions, CSRF, roles and security headers for every request.

- The session cookie (``ocb_session``) is HttpOnly, SameSite=Lax and, outside dev mode,
  Secure; it holds a random token whose HMAC is looked up server-side (services/auth).
- Every state-changing request carries a CSRF token, in the ``csrf_token`` form field
  or the ``X-CSRF-Token`` header: the session's token, or for the login form a
  double-submit cookie (``ocb_login_csrf``).
- Headers: a Content-Security-Policy with no inline script, frame-ancestors 'none',
  nosniff, a strict Referrer-Policy; HTML is never cached.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from openchargeback.domain.roles import Forbidden, NotAuthenticated, Permission, require
from openchargeback.services import auth
from openchargeback.services.auth import Session

SESSION_COOKIE = "ocb_session"
LOGIN_CSRF_COOKIE = "ocb_login_csrf"
THEME_COOKIE = "ocb_theme"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def load_session(request: Request) -> Session | None:
    if not hasattr(request.state, "session"):
        ctx = request.app.state.ctx
        token = request.cookies.get(SESSION_COOKIE)
        request.state.session = await run_in_threadpool(auth.session, ctx, token) if token else None
    return request.state.session


async def guard(request: Request) -> None:
    """App-wide dependency: load the session; check CSRF on state-changing requests."""
    s = await load_session(request)
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        posted = (await request.form()).get("csrf_token")
        sent = posted if isinstance(posted, str) else None  # a file sent under that name is no token
    if request.url.path == "/login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not (expected and sent and hmac.compare_digest(expected, sent)):
            raise Forbidden(
                "the login form expired (missing or wrong CSRF token); reload the page and try again"
            )
        return
    if s is None:
        raise NotAuthenticated("log in to continue")
    if not auth.csrf_ok(s, sent):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


def need(permission: Permission):
    async def dependency(request: Request) -> Session:
        s = await load_session(request)
        if s is None:
            raise NotAuthenticated("log in to continue")
        require(s.username, s.role, permission)
        return s

    return dependency


Reader = Annotated[Session, Depends(need(Permission.READ))]
Reviewer = Annotated[Session, Depends(need(Permission.REVIEW))]
Importer = Annotated[Session, Depends(need(Permission.IMPORT))]
PeriodAdmin = Annotated[Session, Depends(need(Permission.PERIODS))]
SourceAdmin = Annotated[Session, Depends(need(Permission.SOURCES))]
UserAdmin = Annotated[Session, Depends(need(Permission.USERS))]
SettingsReader = Annotated[Session, Depends(need(Permission.SETTINGS))]
SettingsAdmin = SettingsReader  # the same permission: admins only
AuditReader = Annotated[Session, Depends(need(Permission.AUDIT))]
RegistryAdmin = Annotated[Session, Depends(need(Permission.REGISTRY))]


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def set_session_cookie(response, token: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )


def clear_session_cookie(response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)


__all__ = ["Forbidden", "NotAuthenticated", "Session"]
