"""Helpers shared by the route modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.periods import Period
from openchargeback.services.auth import Session
from openchargeback.services.context import Context
from openchargeback.services.jobs import JobView
from openchargeback.web.proxies import client_address
from openchargeback.web.security import is_htmx
from openchargeback.web.templating import qs, render

Text = Annotated[str, Form()]


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
            raise NotFound(exc.message, web=exc.web) from None
    from openchargeback.web.app import current_period

    return current_period(request)


def blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@dataclass(frozen=True)
class Attribution:
    """A form's PI, project and fund fields (a correction), blank ones None."""

    pi: str | None
    project: str | None
    fund: str | None


def _attribution(pi: Text = "", project: Text = "", fund: Text = "") -> Attribution:
    return Attribution(blank(pi), blank(project), blank(fund))


AttributionForm = Annotated[Attribution, Depends(_attribution)]


def job_started(request: Request, partial: str, job: JobView, page: str) -> HTMLResponse | RedirectResponse:
    """A background job just queued: its progress partial for htmx, else ``page``
    following the job (a plain form)."""
    if is_htmx(request):
        return render(request, partial, {"job": job})
    return see_other(f"{page}?{qs(period=job.period, job=job.id)}")


def job_progress(request: Request, partial: str, job: JobView, event: str) -> HTMLResponse:
    """A job's progress partial; once the job has finished, the htmx event ``event`` that
    the page's lists listen for to follow it."""
    changed = {"HX-Trigger": event} if job.finished else None
    return render(request, partial, {"job": job}, headers=changed)
