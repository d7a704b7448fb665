"""The PI portal (pi and delegate users): their costs, charges, statements, disputes and
delegates; and the reviewers' list of disputes. Every read passes the reader's scope to
the services, which filter by it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from openchargeback.domain.roles import Permission
from openchargeback.services import charges, portal
from openchargeback.services.auth import Session
from openchargeback.web import charts
from openchargeback.web.routes.common import AttributionForm, blank, ctx_for, ip, see_other
from openchargeback.web.routes.statements import PREVIEW_CSP
from openchargeback.web.security import Reviewer, attachment, need
from openchargeback.web.templating import render

router = APIRouter()
PortalUser = Annotated[Session, Depends(need(Permission.PORTAL))]
Text = Annotated[str, Form()]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]  # database keys: larger values cannot exist


def _scope(request: Request, s: Session) -> portal.Scope:
    return portal.scope_for(request.app.state.ctx, s.user_id, s.role)


MESSAGES = {
    "disputed": "Dispute sent: a reviewer will answer here.",
    "acknowledged": "Statement acknowledged.",
    "delegate-granted": "Delegate added.",
    "delegate-revoked": "Delegate removed.",
    "dispute-decided": "Decision recorded; the PI sees your reply.",
}


def _page(request: Request, name: str, context: dict, status: int = 200):
    # the staff period picker is not the portal's (its choices are the period filter)
    extra: dict[str, object] = {"periods": ()}
    if request.query_params.get("msg") in MESSAGES:
        extra["message"] = MESSAGES[request.query_params["msg"]]
    return render(request, name, {**extra, **context}, status=status)


@router.get("/portal")
def portal_home(request: Request, s: PortalUser):
    scope = _scope(request, s)
    ctx = ctx_for(request, s)
    home = portal.home(ctx, scope)
    trend = (
        charts.stacked_bars(
            f"Billed cost by project, last {len(home.trend_periods)} periods",
            list(home.trend_periods),
            [(k, list(v)) for k, v in home.trend],
            home.currency,
            locale=request.app.state.settings.statements.branding.locale,
        )
        if home.trend
        else None
    )
    return _page(
        request,
        "portal/home.html",
        {
            "home": home,
            "trend_chart": trend,
            "delegates": portal.delegates_of(ctx, scope),
            "owned": [x.pi_email for x in portal.list_links(ctx, username=s.username) if x.kind == "pi"],
        },
    )


def _query(request: Request, after: str | None = None) -> charges.Query:
    p = request.query_params
    return charges.Query(
        period=blank(p.get("period")),
        project=blank(p.get("project")),
        text=blank(p.get("q")),
        after=after or blank(p.get("after")),
    )


@router.get("/portal/charges")
def portal_charges(request: Request, s: PortalUser):
    scope = _scope(request, s)
    ctx = ctx_for(request, s)
    q = _query(request)
    page = charges.page(ctx, q, scope=scope)
    disputes = {
        d.charge_id: d for d in portal.list_disputes(ctx, scope, charge_ids=[r.id for r in page.rows])
    }
    return _page(request, "portal/charges.html", {"page": page, "q": q, "disputes": disputes})


@router.get("/portal/charges.csv")
def portal_charges_csv(request: Request, s: PortalUser):
    q = _query(request)
    return StreamingResponse(
        charges.export_csv(ctx_for(request, s), q, scope=_scope(request, s)),
        media_type="text/csv",
        headers={"Content-Disposition": attachment(f"charges_{q.period or 'all'}.csv")},
    )


@router.get("/portal/charges/{charge_id}")
def portal_charge(request: Request, s: PortalUser, charge_id: Id):
    scope = _scope(request, s)
    ctx = ctx_for(request, s)
    c = charges.detail(ctx, charge_id, scope=scope)
    return _page(
        request,
        "portal/charge.html",
        {"c": c, "disputes": portal.list_disputes(ctx, scope, charge_ids=[charge_id])},
    )


@router.get("/portal/disputes")
def portal_disputes(request: Request, s: PortalUser, before: Annotated[int | None, Query(ge=1)] = None):
    page = portal.dispute_page(ctx_for(request, s), _scope(request, s), before=before)
    return _page(request, "portal/my_disputes.html", {"page": page})


@router.post("/portal/charges/{charge_id}/dispute")
def portal_dispute(request: Request, s: PortalUser, charge_id: Id, reason: Text = ""):
    portal.raise_dispute(ctx_for(request, s), _scope(request, s), charge_id, reason, ip=ip(request))
    return see_other(f"/portal/charges/{charge_id}?msg=disputed")


def _version(version: str) -> int:
    return int(version.lstrip("v")) if version.lstrip("v").isdigit() else 0


@router.get("/portal/statements/{number}/{version}")
def portal_statement(request: Request, s: PortalUser, number: str, version: str):
    html = portal.statement_preview(ctx_for(request, s), _scope(request, s), number, _version(version))
    return HTMLResponse(html, headers={"Content-Security-Policy": PREVIEW_CSP})


@router.get("/portal/statements/{number}/{version}/lines")
def portal_statement_lines(request: Request, s: PortalUser, number: str, version: str):
    ctx, scope, v = ctx_for(request, s), _scope(request, s), _version(version)
    st = portal.sent_statement(ctx, scope, number, v)
    lines = portal.statement_lines(ctx, scope, number, v)
    disputes = [d for d in portal.list_disputes(ctx, scope) if d.statement == f"{st.number} v{st.version}"]
    return _page(request, "portal/lines.html", {"st": st, "lines": lines, "disputes": disputes})


@router.post("/portal/statements/{number}/{version}/lines/{line}/dispute")
def portal_line_dispute(
    request: Request, s: PortalUser, number: str, version: str, line: Id, reason: Text = ""
):
    portal.raise_line_dispute(
        ctx_for(request, s), _scope(request, s), number, _version(version), line, reason, ip=ip(request)
    )
    return see_other(f"/portal/statements/{number}/{version}/lines?msg=disputed#disputes")


@router.get("/portal/statements/{number}/{version}/{kind}")
def portal_statement_file(request: Request, s: PortalUser, number: str, version: str, kind: str):
    if kind not in ("pdf", "csv"):
        return _page(
            request, "error.html", {"status": 404, "error": "There is no page at this address."}, 404
        )
    name, data = portal.statement_file(
        ctx_for(request, s), _scope(request, s), number, _version(version), kind=kind
    )
    media = "application/pdf" if kind == "pdf" else "text/csv"
    return Response(data, media_type=media, headers={"Content-Disposition": attachment(name)})


@router.post("/portal/statements/{number}/{version}/acknowledge")
def portal_acknowledge(request: Request, s: PortalUser, number: str, version: str):
    portal.acknowledge(ctx_for(request, s), _scope(request, s), number, _version(version), ip=ip(request))
    return see_other("/portal?msg=acknowledged#statements")


@router.post("/portal/delegates")
def portal_grant(request: Request, s: PortalUser, username: Text = "", pi: Text = ""):
    portal.grant(ctx_for(request, s), username, pi, by_user_id=s.user_id, by_role=s.role, ip=ip(request))
    return see_other("/portal?msg=delegate-granted#delegates")


@router.post("/portal/delegates/revoke")
def portal_revoke(request: Request, s: PortalUser, username: Text = "", pi: Text = ""):
    portal.unlink(ctx_for(request, s), username, pi, by_user_id=s.user_id, by_role=s.role, ip=ip(request))
    return see_other("/portal?msg=delegate-revoked#delegates")


# -- the reviewers' side -------------------------------------------------------------------
@router.get("/disputes")
def disputes_page(request: Request, s: Reviewer, all: str | None = None):
    items = portal.list_disputes(ctx_for(request, s), open_only=not all)
    return _page(request, "portal/disputes.html", {"items": items, "all": bool(all), "periods": None})


@router.post("/disputes/{dispute_id}/decide")
def disputes_decide(
    request: Request,
    s: Reviewer,
    dispute_id: Id,
    new: AttributionForm,
    decision: Text = "",
    reply: Text = "",
):
    portal.decide_dispute(
        ctx_for(request, s),
        dispute_id,
        decision,
        reply,
        pi_email=new.pi,
        project_id=new.project,
        fund_org=new.fund,
        ip=ip(request),
    )
    return see_other("/disputes?msg=dispute-decided")
