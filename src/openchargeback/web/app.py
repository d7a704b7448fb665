"""``create_app(settings)``: the FastAPI application. Nothing is created at import time."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from openchargeback import logs
from openchargeback.config import Settings
from openchargeback.domain.errors import OpenChargebackError
from openchargeback.domain.roles import NotAuthenticated
from openchargeback.services import database, jobs, periods, users
from openchargeback.services.context import build_context
from openchargeback.web import health, metrics, security
from openchargeback.web.api import PREFIX as API_PREFIX
from openchargeback.web.api import create_api
from openchargeback.web.observe import RequestObserver
from openchargeback.web.proxies import ProxyHeaders
from openchargeback.web.routes import account, admin, charges, imports, pages, review
from openchargeback.web.routes import journal as journal_pages
from openchargeback.web.routes import portal as portal_pages
from openchargeback.web.routes import registry as registry_pages
from openchargeback.web.routes import sso as sso_pages
from openchargeback.web.routes import statements as statement_pages
from openchargeback.web.routes import tokens as token_pages
from openchargeback.web.templating import make_env, render


def create_app(settings: Settings) -> FastAPI:
    logs.configure(settings, service=True)
    ctx = build_context(settings, actor="web")
    users.bootstrap(ctx)
    # the embedded default runs the jobs in this process; else `openchargeback worker` does
    runner = jobs.Worker(ctx, embedded=True) if settings.jobs.serve_runs_worker else None

    @asynccontextmanager
    async def lifespan(_app):
        logs.adopt_uvicorn()
        if runner is not None:
            runner.start()  # jobs queued before this process started, or by another one
        yield
        if runner is not None:
            runner.shutdown()
        ctx.engine.dispose()

    app = FastAPI(
        title="OpenChargeback",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(security.guard)],
        form_limits=security.FORM_LIMITS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ctx = ctx
    app.state.runner = runner
    app.state.env = make_env(settings.statements.branding.locale)
    app.state.period_picker = lambda s: _picker(ctx, s)

    # inside the headers middleware, so that a 413 carries the headers too
    app.add_middleware(security.BodyLimit, upload_limit=settings.server.max_upload_mb * 1024 * 1024)

    @app.middleware("http")
    async def gate(request: Request, call_next):
        refused = await security.gate(request)  # before any byte of the body is read
        if isinstance(refused, NotAuthenticated):
            return await not_authenticated(request, refused)
        if refused is not None:
            return _error(request, refused.http_status, refused.web)
        return await call_next(request)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        return security.apply_headers(request, await call_next(request))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        # Starlette answers an unhandled error outside the middleware: headers set here
        return security.apply_headers(
            request, _error(request, 500, "Something went wrong on the server; the error was logged.")
        )

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated):
        if security.is_htmx(request):
            return render(
                request, "_flash.html", {"error": exc.message}, status=401, headers={"HX-Redirect": "/login"}
            )
        if request.method == "GET":
            nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{_next(nxt)}", status_code=303)
        return render(request, "error.html", {"status": 401, "error": exc.message}, status=401)

    @app.exception_handler(OpenChargebackError)
    async def user_error(request: Request, exc: OpenChargebackError):
        return _error(request, exc.http_status, exc.web)

    async def database_fault(request: Request, exc: Exception):
        fault = database.fault_of(exc)
        if fault is None:  # not the database's failure: a bug, with its traceback
            raise exc
        return _error(request, fault.http_status, fault.web)

    for driver_error in database.DRIVER_ERRORS:
        app.add_exception_handler(driver_error, database_fault)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        text = {
            404: "There is no page at this address.",
            405: "This address does not accept that kind of request.",
        }.get(exc.status_code, str(exc.detail))
        return _error(request, exc.status_code, text)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {e.get('msg')}")
        return _error(request, 422, "; ".join(parts) or "invalid request")

    app.mount("/static", StaticFiles(packages=[("openchargeback.web", "static")]), name="static")
    for module in (account, pages, charges, imports, admin, review):
        app.include_router(module.router)
    app.include_router(statement_pages.router)  # statements and their email
    app.include_router(journal_pages.router)  # journal exports
    app.include_router(registry_pages.router)  # the registry, splits, adjustments, budgets
    app.include_router(portal_pages.router)  # the PI portal and the reviewers' disputes
    app.include_router(token_pages.router)  # the user's API tokens
    app.include_router(sso_pages.router)  # single sign-on: OpenID Connect, trusted headers
    sso_pages.install(app)  # the OpenID client and its signed state cookie, when configured
    app.mount(API_PREFIX, create_api(ctx, runner))  # the REST API: tokens, no cookies
    app.include_router(health.router)  # /healthz, /readyz: no login
    # one log line per request, and its count and latency when metrics are on
    app.add_middleware(RequestObserver, observe=metrics.install(app, settings, ctx))
    # outermost (added last): everything inside sees the real client behind trusted proxies
    app.add_middleware(
        ProxyHeaders, trusted_proxies=settings.server.trusted_proxies, header=settings.server.forwarded_header
    )
    return app


def _next(path: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": path})


def _error(request: Request, status: int, message: str):
    if security.is_htmx(request):
        return render(
            request,
            "_flash.html",
            {"error": message},
            status=status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )
    return render(request, "error.html", {"status": status, "error": message}, status=status)


def _picker(ctx, s) -> tuple[tuple[str, ...], str | None]:
    names = tuple(periods.period_names(ctx))
    current = s.period if s.period in names else (names[0] if names else None)
    return names, current


def current_period(request: Request) -> str | None:
    s = request.state.session
    names = periods.period_names(request.app.state.ctx)
    if s is not None and s.period in names:
        return s.period
    return names[0] if names else None
