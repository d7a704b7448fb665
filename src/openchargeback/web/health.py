"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: 200 or 503): no
login, no data, the security headers of every page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from openchargeback.services import health

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok\n")


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    r = health.readiness(request.app.state.ctx)
    body = {
        "status": "ready" if r.ready else "not ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in r.checks},
    }
    return JSONResponse(body, status_code=200 if r.ready else 503)
