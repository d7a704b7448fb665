"""Sessions, CSRF, body limits, roles and security headers for every request.

- The session cookie is HttpOnly, SameSite=Lax and, outside dev mode, Secure and named
  ``__Host-ocb_session`` (so no other host or path can set it; ``ocb_session`` in dev
  mode); it holds a random token whose HMAC is looked up server-side (services/auth).
- Every state-changing request is checked before its body is read: a browser's
  cross-site request (``Sec-Fetch-Site``) is refused, and one without a live session
  answers 401 having read nothing (only ``/login``, whose body is small, is parsed
  anonymously). Its CSRF token then comes from the ``X-CSRF-Token`` header or the
  ``csrf_token`` form field: the session's token, or for the login form a token signed
  with ``server.secret_key`` over the nonce in the login cookie (a made-up
  cookie/token pair fails).
- Bodies are limited by :class:`BodyLimit` (bytes counted as they arrive, chunked or
  not: 413 at the first byte too many) and forms by FORM_LIMITS.
- Headers: a Content-Security-Policy with no inline script, frame-ancestors 'none',
  nosniff, a strict Referrer-Policy; HTML is never cached (set on every response,
  errors included, by :func:`apply_headers`).
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, TypedDict, get_args
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from openchargeback.config import Settings
from openchargeback.domain.errors import InvalidInput, NotFound, OpenChargebackError
from openchargeback.domain.roles import Forbidden, NotAuthenticated, Permission, require
from openchargeback.services import auth
from openchargeback.services.auth import Session

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
# Request bodies: file uploads (the imports page, a registry CSV, the API's imports) up
# to server.max_upload_mb, the login form small, any other request 1 MiB. Forms: few
# fields, text fields up to 256 KiB (the review rules), one file (the registry import;
# spooled to disk past 1 MiB, within the upload limit).
UPLOAD_PATHS = re.compile(r"^/(imports/upload|registry/[^/]+/import|api/v\d+/imports)$")
LOGIN_BODY_LIMIT = 16 * 1024
FORM_BODY_LIMIT = 1024 * 1024


class FormLimits(TypedDict, total=False):  # the keys of FastAPI's form_limits
    max_fields: int
    max_files: int
    max_part_size: int


FORM_LIMITS = FormLimits(max_fields=300, max_files=1, max_part_size=256 * 1024)
PERIOD_FORMAT = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
INT_RANGE = (-(2**31), 2**31 - 1)  # ids are INTEGER columns: 4 bytes on PostgreSQL
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_SAME_ORIGIN = {None, "same-origin", "none"}  # Sec-Fetch-Site values a form of ours sends


class BodyLimit:
    """ASGI middleware: the request body's limit for its path (see UPLOAD_PATHS);
    Starlette's RequestBodyLimitMiddleware counts the bytes as the app reads them and
    refuses with 413 as soon as a declared Content-Length or the running count is over."""

    def __init__(self, app: ASGIApp, upload_limit: int) -> None:
        self.app = app
        self.limited = {
            size: RequestBodyLimitMiddleware(app, size)
            for size in (upload_limit, LOGIN_BODY_LIMIT, FORM_BODY_LIMIT)
        }
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if UPLOAD_PATHS.match(path):
            size = self.upload_limit
        elif path == "/login":
            size = LOGIN_BODY_LIMIT
        else:
            size = FORM_BODY_LIMIT
        await self.limited[size](scope, receive, send)


def cookie_names(settings: Settings) -> tuple[str, str]:
    """(session cookie, login cookie): ``__Host-`` names outside dev mode (they need
    HTTPS, which dev mode on http://localhost may not have)."""
    prefix = "" if settings.dev_mode else "__Host-"
    return prefix + "ocb_session", prefix + "ocb_login"


def apply_headers(request: Request, response: Any) -> Any:
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    else:
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
    if not request.app.state.settings.dev_mode:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def load_session(request: Request) -> Session | None:
    if not hasattr(request.state, "session"):
        ctx = request.app.state.ctx
        token = request.cookies.get(cookie_names(ctx.settings)[0])
        request.state.session = await run_in_threadpool(auth.session, ctx, token) if token else None
    return request.state.session


async def _sent_token(request: Request) -> str | None:
    """The CSRF token of a request: its header, else its form field (the body is read
    here, within FORM_LIMITS, only after the caller's checks)."""
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        posted = (await request.form(**FORM_LIMITS)).get("csrf_token")
        sent = posted if isinstance(posted, str) else None  # a file sent under that name is no token
    return sent


async def gate(request: Request) -> OpenChargebackError | None:
    """Why a request must be refused before its body is read (app.py's middleware calls
    this before routing: FastAPI reads a route's form before its dependencies run).
    A state-changing request from another site, or without a live session (except the
    login form), is refused having read nothing."""
    if request.method in SAFE_METHODS or request.url.path.startswith("/api/"):
        return None  # the API authenticates each request by its token, never a cookie
    if request.headers.get("sec-fetch-site") not in _SAME_ORIGIN:
        return Forbidden("a request from another site was refused; use the form on this site")
    if request.url.path != "/login" and await load_session(request) is None:
        return NotAuthenticated("log in to continue")
    return None


def _is_int(annotation: Any) -> bool:
    return annotation is int or int in get_args(annotation)


def check_parameters(request: Request) -> None:
    """Every route's parameters, before its own code runs: a ``period`` query parameter
    is a month (YYYY-MM), and integer parameters fit the database's INTEGER columns
    (a path's out of range: 404; a query's: 422), never a 500 from the database."""
    period = (request.query_params.get("period") or "").strip()
    if period and not PERIOD_FORMAT.match(period):
        raise InvalidInput(f"period {period[:40]!r}: expected a month as YYYY-MM, such as 2025-01")
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    checks = (
        (dependant.path_params, request.path_params, NotFound, "there is nothing at this address ({} {})"),
        (dependant.query_params, request.query_params, InvalidInput, "{} {}: out of range"),
    )
    for fields, values, error, message in checks:
        for field in fields:
            raw = values.get(field.alias)
            if raw is None or not _is_int(field.field_info.annotation):
                continue
            try:
                n = int(raw)
            except ValueError:
                continue  # not a number: FastAPI's validation says so (422)
            if not INT_RANGE[0] <= n <= INT_RANGE[1]:
                raise error(message.format(field.alias, str(raw)[:30]))


def attachment(filename: str) -> str:
    """A Content-Disposition header for a download (RFC 6266): an ASCII fallback with
    anything but letters, digits, '.', '_' and '-' replaced, and the exact name as
    ``filename*`` (RFC 5987 percent-encoding), so no name can add parameters or lines."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:150] or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def guard(request: Request) -> None:
    """App-wide dependency: check the route's parameters; load the session; on a
    state-changing request check the CSRF token (from the header, else the form)."""
    check_parameters(request)
    s = await load_session(request)
    if request.method in SAFE_METHODS:
        return
    refused = await gate(request)  # done already by the middleware; kept for mounted apps
    if refused is not None:
        raise refused
    settings = request.app.state.settings
    if request.url.path == "/login":
        nonce = request.cookies.get(cookie_names(settings)[1])
        if not auth.login_token_ok(settings, nonce, await _sent_token(request)):
            raise Forbidden(
                "the login form expired (missing or wrong CSRF token); reload the page and try again"
            )
        return
    if s is None:
        raise NotAuthenticated("log in to continue")
    if not auth.csrf_ok(s, await _sent_token(request)):
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


async def signed_in(request: Request) -> Session:
    """Any signed-in user, whatever the role (logout, own tokens)."""
    s = await load_session(request)
    if s is None:
        raise NotAuthenticated("log in to continue")
    return s


SignedIn = Annotated[Session, Depends(signed_in)]


def login_form(request: Request) -> tuple[str, str]:
    """(nonce for the login cookie, signed token for the form): the cookie's nonce is
    kept while it lives, so several open login tabs stay valid."""
    settings = request.app.state.settings
    nonce = request.cookies.get(cookie_names(settings)[1]) or secrets.token_urlsafe(24)
    return nonce, auth.login_token(settings, nonce)


def set_login_cookie(request: Request, response, nonce: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        cookie_names(settings)[1],
        nonce,
        httponly=True,
        samesite="strict",
        secure=not settings.dev_mode,
        path="/",
        max_age=int(auth.LOGIN_FORM_LIFETIME.total_seconds()),
    )


def clear_login_cookie(request: Request, response) -> None:
    settings = request.app.state.settings
    response.delete_cookie(
        cookie_names(settings)[1], path="/", httponly=True, samesite="strict", secure=not settings.dev_mode
    )


def set_session_cookie(request: Request, response, token: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        cookie_names(settings)[0],
        token,
        max_age=settings.server.session_lifetime_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=not settings.dev_mode,
        path="/",
    )


def clear_session_cookie(request: Request, response) -> None:
    settings = request.app.state.settings
    response.delete_cookie(
        cookie_names(settings)[0], path="/", httponly=True, samesite="lax", secure=not settings.dev_mode
    )


__all__ = ["Forbidden", "NotAuthenticated", "Session"]
