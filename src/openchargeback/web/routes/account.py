"""Login, logout, the user's own account, the period picker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from openchargeback.domain.roles import NotAuthenticated, TooManyAttempts
from openchargeback.services import auth, users
from openchargeback.web import security
from openchargeback.web.routes.common import ctx_for, ip, see_other
from openchargeback.web.security import Reader
from openchargeback.web.templating import render

router = APIRouter()


def _safe_next(nxt: str | None) -> str:
    if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt:
        return nxt
    return "/"


def _login_page(request: Request, *, error: str | None = None, status: int = 200, username: str = ""):
    token = request.cookies.get(security.LOGIN_CSRF_COOKIE) or security.new_login_token()
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "error": error,
            "username": username,
            "next": _safe_next(request.query_params.get("next")),
        },
        status=status,
    )
    response.set_cookie(
        security.LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=not request.app.state.settings.dev_mode,
        path="/login",
        max_age=3600,
    )
    return response


@router.get("/login")
def login_form(request: Request):
    if request.state.session is not None:
        return see_other("/")
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):
    settings = request.app.state.settings
    try:
        result = auth.login(
            request.app.state.ctx,
            username,
            password,
            ip=ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    except TooManyAttempts as exc:
        return _login_page(request, error=exc.message, status=429, username=username)
    except NotAuthenticated as exc:
        return _login_page(request, error=exc.message, status=401, username=username)
    response = RedirectResponse(_safe_next(next), status_code=303)
    security.set_session_cookie(
        response,
        result.token,
        secure=not settings.dev_mode,
        max_age=settings.server.session_lifetime_minutes * 60,
    )
    response.delete_cookie(security.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, s: Reader):
    auth.logout(ctx_for(request, s), s, ip=ip(request))
    response = see_other("/login")
    security.clear_session_cookie(response, secure=not request.app.state.settings.dev_mode)
    return response


@router.get("/account")
def account(request: Request, s: Reader):
    return render(request, "account.html", {"user": users.get_user(ctx_for(request, s), s.username)})


@router.post("/account/password")
def change_password(
    request: Request,
    s: Reader,
    current: Annotated[str, Form()],
    new: Annotated[str, Form()],
    confirm: Annotated[str, Form()],
):
    if new != confirm:
        return render(
            request,
            "account.html",
            {
                "user": users.get_user(ctx_for(request, s), s.username),
                "error": "the two new passwords differ",
            },
            status=422,
        )
    users.change_own_password(ctx_for(request, s), s.username, current, new, session_id=s.id, ip=ip(request))
    return see_other("/account?msg=password-changed")


@router.post("/period")
def choose_period(
    request: Request, s: Reader, period: Annotated[str, Form()], back: Annotated[str, Form()] = "/"
):
    auth.choose_period(ctx_for(request, s), s, period)
    return see_other(_safe_next(back.split("?")[0]))
