"""Jinja2 templates loaded from the package, the filters they use, and ``render``.

Every page gets the signed-in session, its CSRF token, the theme, the period list for
the picker and the user's permissions; a template never looks anything up itself."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from openchargeback.domain.roles import Permission, allowed
from openchargeback.rendering import amounts
from openchargeback.web.security import THEME_COOKIE, is_htmx

MESSAGES = {
    "closed": "Period closed.",
    "finalized": "Period finalized.",
    "reopened": "Period reopened.",
    "source-added": "Source added.",
    "source-saved": "Source saved.",
    "user-added": "User added.",
    "role-changed": "Role changed.",
    "password-reset": "Password reset; the user's sessions were ended.",
    "disabled": "User disabled; their sessions were ended.",
    "enabled": "User enabled.",
    "password-changed": "Your password was changed; your other sessions were ended.",
    "review-approve": "Charge approved.",
    "review-reject": "Charge rejected.",
    "review-correct": "Correction saved.",
    "review-bulk": "Decision recorded for the selection.",
    "rules-saved": "Review rules saved.",
    "rechecked": "Charges without a decision were re-checked against the saved rules.",
}


def money(
    value: Decimal | str | None,
    currency: str = "USD",
    exact: bool = False,
    locale: str = amounts.DEFAULT_LOCALE,
) -> str:
    """The ``money`` filter: :func:`openchargeback.rendering.amounts.money` with the locale's
    currency sign; a negative amount takes the typographic minus. Text is a job result's
    exact decimal (JSON keeps every digit)."""
    if value is None:
        return "—"
    text = amounts.money(Decimal(value), currency, locale, exact=exact)
    return "−" + text[1:] if text.startswith("-") else text


def percent(value: Decimal | None, locale: str = amounts.DEFAULT_LOCALE) -> str:
    """12.3%: a percentage to one decimal, written in the locale."""
    return "—" if value is None else amounts.number(value, 1, locale) + "%"


def number(value) -> str:
    return "—" if value is None else f"{value:,}"


def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if value is None else value.strftime(fmt) + (" UTC" if "%H" in fmt else "")


def qs(**params) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "", False)})


def make_env(locale: str = amounts.DEFAULT_LOCALE) -> Environment:
    """The pages' environment; amounts are written in ``locale`` (the branding's)."""
    env = Environment(
        loader=PackageLoader("openchargeback.web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=functools.partial(money, locale=locale),
        percent=functools.partial(percent, locale=locale),
        number=number,
        when=when,
    )
    env.globals.update(qs=qs, Markup=Markup)
    return env


def render(
    request: Request,
    name: str,
    context: dict | None = None,
    *,
    status: int = 200,
    headers: dict | None = None,
) -> HTMLResponse:
    app = request.app
    s = getattr(request.state, "session", None)
    theme = request.cookies.get(THEME_COOKIE)
    base = {
        "request": request,
        "session": s,
        "csrf": s.csrf_token if s else "",
        "theme": theme if theme in ("light", "dark") else None,
        "can": (lambda p: s is not None and allowed(s.role, Permission(p))),
        "dev_mode": app.state.settings.dev_mode,
        "htmx": is_htmx(request),
        "message": MESSAGES.get(request.query_params.get("msg", "")),
        "path": request.url.path,
        "periods": (),
        "current_period": None,
    }
    if s is not None and not is_htmx(request):
        base["periods"], base["current_period"] = app.state.period_picker(s)
    base.update(context or {})
    html = app.state.env.get_template(name).render(base)
    return HTMLResponse(html, status_code=status, headers=headers)
