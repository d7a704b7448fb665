"""Write operations of the API (a write token, and the role's permission): review
decisions, disputes and their decisions, acknowledgements, imports and statement jobs.
The same services and rules as the web pages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.jsonable import to_json
from openchargeback.domain.roles import Permission
from openchargeback.services import jobs, portal, review
from openchargeback.web.api.auth import CallerDep
from openchargeback.web.api.problems import ERRORS
from openchargeback.web.api.reads import Id, Number

router = APIRouter(responses=ERRORS)  # type: ignore[arg-type]


PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class Decision(BaseModel):
    period: str = Field(pattern=PERIOD)
    ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=10000)
    note: str | None = None


class Correction(Decision):
    pi_email: str | None = None
    project_id: str | None = None
    fund_org: str | None = None
    save_rule: bool = False


class DisputeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class DisputeDecision(BaseModel):
    decision: Literal["upheld", "corrected", "declined"]
    reply: str = Field(min_length=1, max_length=2000)
    # a correction: where the charge belongs (at least one)
    pi_email: str | None = Field(default=None, max_length=320)
    project_id: str | None = Field(default=None, max_length=200)
    fund_org: str | None = Field(default=None, max_length=200)


class StatementJob(BaseModel):
    period: str = Field(pattern=PERIOD)
    pi: str | None = None
    project: str | None = None
    resend: bool = False


def _sel(ids: list[int]) -> review.Selection:
    return review.Selection(ids=tuple(ids), status="all")


@router.post("/review/approve", tags=["review"])
def review_approve(caller: CallerDep, body: Decision) -> dict[str, Any]:
    caller.need(Permission.REVIEW)
    return to_json(review.approve(caller.ctx, body.period, _sel(body.ids), body.note))


@router.post("/review/reject", tags=["review"])
def review_reject(caller: CallerDep, body: Decision) -> dict[str, Any]:
    caller.need(Permission.REVIEW)
    if not body.note:
        raise InvalidInput("a rejection needs a note")
    return to_json(review.reject(caller.ctx, body.period, _sel(body.ids), body.note))


@router.post("/review/correct", tags=["review"])
def review_correct(caller: CallerDep, body: Correction) -> dict[str, Any]:
    caller.need(Permission.REVIEW)
    return to_json(
        review.correct(
            caller.ctx,
            body.period,
            _sel(body.ids),
            pi_email=body.pi_email,
            project_id=body.project_id,
            fund_org=body.fund_org,
            note=body.note,
            save_rule=body.save_rule,
        )
    )


@router.post("/charges/{charge_id}/disputes", status_code=201, tags=["disputes"])
def dispute_charge(caller: CallerDep, charge_id: Id, body: DisputeIn) -> dict[str, Any]:
    caller.need(Permission.PORTAL)
    return portal.raise_dispute(caller.ctx, caller.scope, charge_id, body.reason).as_json()


@router.post("/disputes/{dispute_id}/decide", tags=["disputes"])
def decide_dispute(caller: CallerDep, dispute_id: Id, body: DisputeDecision) -> dict[str, Any]:
    caller.need(Permission.REVIEW)
    return portal.decide_dispute(
        caller.ctx,
        dispute_id,
        body.decision,
        body.reply,
        pi_email=body.pi_email,
        project_id=body.project_id,
        fund_org=body.fund_org,
    ).as_json()


@router.post("/statements/{number}/{version}/lines/{line}/disputes", status_code=201, tags=["disputes"])
def dispute_line(caller: CallerDep, number: Number, version: Id, line: Id, body: DisputeIn) -> dict[str, Any]:
    caller.need(Permission.PORTAL)
    return portal.raise_line_dispute(caller.ctx, caller.scope, number, version, line, body.reason).as_json()


@router.post("/statements/{number}/{version}/acknowledge", tags=["statements"])
def acknowledge(caller: CallerDep, number: Number, version: Id) -> dict[str, Any]:
    caller.need(Permission.PORTAL)
    return portal.acknowledge(caller.ctx, caller.scope, number, version).as_json()


@router.post("/statements/generate", status_code=202, tags=["statements"])
def statements_generate(caller: CallerDep, body: StatementJob) -> dict[str, Any]:
    """Queue generation of a closed period's statements; follow the job."""
    caller.need(Permission.PERIODS)
    return to_json(jobs.start_statements(caller.ctx, "generate", body.period))


@router.post("/statements/send", status_code=202, tags=["statements"])
def statements_send(caller: CallerDep, body: StatementJob) -> dict[str, Any]:
    """Queue sending of a period's statements not sent yet (or one PI's, or a resend)."""
    caller.need(Permission.PERIODS)
    job = jobs.start_statements(
        caller.ctx, "send", body.period, pi=body.pi, project=body.project, resend=body.resend
    )
    return to_json(job)


@router.post(
    "/imports",
    status_code=202,
    tags=["imports"],
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        }
    },
)
async def upload_import(
    request: Request,
    caller: CallerDep,
    filename: Annotated[str, Query(min_length=1, max_length=200)],
    source: Annotated[str, Query(min_length=1, max_length=64)],
    period: Annotated[str | None, Query(pattern=PERIOD)] = None,
    replace: bool = False,
) -> dict[str, Any]:
    """Upload one FOCUS file (the request body) as an import job; follow it at
    ``/imports/jobs/{id}``."""
    caller.need(Permission.IMPORT)
    limit = request.app.state.settings.server.max_upload_mb * 1024 * 1024
    target = await run_in_threadpool(jobs.Upload, caller.ctx, filename)
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise jobs.TooLarge(f"{filename}: larger than server.max_upload_mb")
            if chunk:
                target.write(chunk)
        path = await run_in_threadpool(target.close)
    except BaseException:
        target.discard()
        raise
    job_id = await run_in_threadpool(
        lambda: jobs.start_import(caller.ctx, path, source, period, replace=replace)
    )
    return to_json(await run_in_threadpool(jobs.get_job, caller.ctx, job_id))
