"""Helpers shared by the route modules."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.periods import Period
from openchargeback.services.auth import Session
from openchargeback.services.context import Context
from openchargeback.web.proxies import client_address


def ctx_for(request: Request, s: Session | None) -> Context:
    ctx = request.app.state.ctx
    return ctx.as_actor(f"web:{s.username}") if s is not None else ctx


def ip(request: Request) -> str:
    """The client's address (behind trusted proxies, the one they vouch for)."""
    return client_address(request).address


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def period_of(request: Request, asked: str | None = None) -> str | None:
    """The period a page shows: the one asked for (a 404 page when it is not a month in
    the form YYYY-MM), else the session's, else the latest."""
    if asked:
        try:
            return Period.parse(asked).name
        except InvalidInput as exc:
            raise NotFound(exc.message) from None
    from openchargeback.web.app import current_period

    return current_period(request)


def blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None
