"""The REST API under ``/api/v1/``: a FastAPI application of its own, mounted by the
web app. Personal access tokens only (no cookie is read or set, so no CSRF);
errors as ``application/problem+json``; the OpenAPI 3.1 document at
``/api/v1/openapi.json`` for authenticated clients."""

from __future__ import annotations

from fastapi import FastAPI

from openchargeback.services.context import Context
from openchargeback.web.api import actions, problems, reads
from openchargeback.web.api.auth import Bucket, CallerDep

PREFIX = "/api/v1"


def create_api(ctx: Context, runner=None) -> FastAPI:
    api = FastAPI(
        title="OpenChargeback API",
        version="1",
        openapi_url=None,  # served below, to authenticated clients only
        docs_url=None,
        redoc_url=None,
        servers=[{"url": PREFIX}],
    )
    api.state.ctx = ctx
    api.state.settings = ctx.settings
    api.state.runner = runner
    api.state.bucket = Bucket()
    problems.install(api)
    api.include_router(reads.router)
    api.include_router(actions.router)

    @api.get("/openapi.json", include_in_schema=False)
    def openapi(caller: CallerDep):
        document = api.openapi()
        document.setdefault("components", {}).setdefault("securitySchemes", {})["token"] = {
            "type": "http",
            "scheme": "bearer",
        }
        document["security"] = [{"token": []}]
        return document

    return api
