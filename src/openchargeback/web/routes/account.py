"""Login, logout, the user's own account, the period picker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from openchargeback.domain.roles import NotAuthenticated, TooManyAttempts
from openchargeback.services import auth, users
from openchargeback.web import security
from openchargeback.web.routes.common import ctx_for, ip, see_other
from openchargeback.web.security import Reader, SignedIn
from openchargeback.web.templating import render

router = APIRouter()


def _safe_next(nxt: str | None) -> str:
    if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt:
        return nxt
    return "/"


def _login_page(request: Request, *, error: str | None = None, status: int = 200, username: str = ""):
    nonce, token = security.login_form(request)
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "error": error,
            "username": username,
            "next": _safe_next(request.query_params.get("next")),
            "sso": request.app.state.settings.sso,
        },
        status=status,
    )
    security.set_login_cookie(request, response, nonce)
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
    dest = _safe_next(next)
    if dest == "/" and result.session.role in ("pi", "delegate"):
        dest = "/portal"  # a PI's or delegate's home
    response = RedirectResponse(dest, status_code=303)
    security.set_session_cookie(request, response, result.token)
    security.clear_login_cookie(request, response)
    return response


@router.post("/logout")
def logout(request: Request, s: SignedIn):
    auth.logout(ctx_for(request, s), s, ip=ip(request))
    # signed in with OpenID Connect: end the provider's session too
    signed_on = "id_token" in request.scope.get("session", {})
    response = see_other("/login/oidc/logout" if signed_on else "/login")
    security.clear_session_cookie(request, response)
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
