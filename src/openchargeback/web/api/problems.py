"""Errors of the API as ``application/problem+json`` (RFC 9457): type, title, status,
detail. The same domain errors as the web pages, with their status and in the web's
words (``OpenChargebackError.web``: no command syntax), database faults included."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from openchargeback.domain.errors import OpenChargebackError
from openchargeback.services.database import DRIVER_ERRORS, fault_of

MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail)
    return JSONResponse(body.model_dump(), status_code=status, media_type=MEDIA_TYPE, headers=headers)


# What every operation may answer besides its success (declared, so clients and
# schemathesis know their shape).
ERRORS = {
    code: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": HTTPStatus(code).phrase}
    for code in (400, 401, 403, 404, 409, 422, 429)
}


def install(api: FastAPI) -> None:
    @api.exception_handler(OpenChargebackError)
    async def domain_error(request: Request, exc: OpenChargebackError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return problem(exc.http_status, exc.web, headers)  # the web's words: no command syntax

    async def database_fault(request: Request, exc: Exception):
        fault = fault_of(exc)
        if fault is None:  # not the database's failure: a bug, with its traceback
            raise exc
        return problem(fault.http_status, fault.web)

    for driver_error in DRIVER_ERRORS:
        api.add_exception_handler(driver_error, database_fault)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return problem(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)

    @api.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {e.get('msg')}")
        return problem(422, "; ".join(parts) or "invalid request")
