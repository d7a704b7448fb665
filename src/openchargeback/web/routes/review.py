"""The review queue: filters, key pagination, per-row and bulk decisions (htmx in place,
plain forms without JavaScript), and the review rules in Settings. Viewers see the
queue; reviewers and admins act."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.services import review
from openchargeback.web.pages import review as review_views
from openchargeback.web.pages import settings as settings_views
from openchargeback.web.routes.common import AttributionForm, blank, ctx_for, period_of, see_other
from openchargeback.web.security import Reader, Reviewer, SettingsAdmin, is_htmx
from openchargeback.web.templating import money, number, qs, render

router = APIRouter()
Text = Annotated[str, Form()]
FILTERS = ("status", "reason", "source", "pi", "project", "min")
PAGE = 50
DONE = {"approve": "approved", "reject": "rejected", "correct": "corrected"}


def _selection(values) -> review.Selection:
    status = (values.get("status") or "pending").strip()
    if status not in review_views.STATES:
        raise InvalidInput(f"state {status!r}: expected one of {', '.join(review_views.STATES)}")
    return review.Selection(
        status=status,
        reason=blank(values.get("reason")),
        source=blank(values.get("source")),
        pi_email=blank(values.get("pi")),
        project_id=blank(values.get("project")),
        min_amount=review_views.amount(values.get("min")),
    )


def _params(period: str | None, values) -> dict:
    """The filters as given, for links and hidden fields that keep them."""
    out = {k: (values.get(k) or "").strip() for k in (*FILTERS, "limit")}
    out["period"] = period or ""
    return {k: v for k, v in out.items() if v}


def _back(value: str | None, default: str) -> str:
    """Where a plain form goes after an action: the queue or a charge page, never elsewhere."""
    if (
        value
        and value.startswith(("/review", "/charges/"))
        and "\\" not in value
        and not value.startswith("//")
    ):
        return value
    return default


def _view_of(back: str) -> review.Selection:
    """The list an action was taken from (the filters of its queue URL)."""
    if not back.startswith("/review"):
        return review.Selection(status="all")
    return _selection({k: v[-1] for k, v in parse_qs(urlsplit(back).query).items()})


def _with_msg(url: str, msg: str) -> str:
    path, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith("msg=")]
    return f"{path}?{'&'.join([*kept, f'msg={msg}'])}"


def _context(v: review_views.QueueView, params: dict, **extra) -> dict:
    return {"v": v, "params": params, "back": f"/review?{qs(**params)}", **extra}


@router.get("/review")
def queue_page(
    request: Request,
    s: Reader,
    period: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
):
    sel = _selection(request.query_params)
    v = review_views.queue_view(
        ctx_for(request, s), period_of(request, blank(period)), sel, after=blank(after), limit=limit
    )
    return render(
        request, "review.html", _context(v, _params(v.period, request.query_params), after=blank(after))
    )


@router.get("/review/rows")
def queue_rows(
    request: Request,
    s: Reader,
    period: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
):
    """The next page of rows (the "Load more" button)."""
    sel = _selection(request.query_params)
    v = review_views.queue_view(
        ctx_for(request, s), period_of(request, blank(period)), sel, after=blank(after), limit=limit
    )
    return render(
        request, "_review_rows.html", _context(v, _params(v.period, request.query_params), after=blank(after))
    )


@router.post("/review/bulk")
def bulk_action(
    request: Request,
    s: Reviewer,
    period: Text,
    do: Text,
    ids: Annotated[list[int] | None, Form()] = None,
    note: Text = "",
    status: Text = "pending",
    reason: Text = "",
    source: Text = "",
    pi: Text = "",
    project: Text = "",
    min_amount: Annotated[str, Form(alias="min")] = "",
):
    action, _, scope = do.partition("-")
    values = {
        "status": status,
        "reason": reason,
        "source": source,
        "pi": pi,
        "project": project,
        "min": min_amount,
    }
    sel = _selection(values)
    if scope == "checked":
        sel = replace(sel, ids=tuple(ids or ()))
    elif scope != "matching":
        raise InvalidInput(f"bulk scope {scope!r}: expected checked or matching")
    result, v = review_views.bulk(ctx_for(request, s), period, action, sel, blank(note))
    params = _params(v.period, values)
    if not is_htmx(request):
        return see_other(_with_msg(f"/review?{qs(**params)}", "review-bulk"))
    notice = f"{number(result.count)} charge(s) {result.action} ({money(result.total)})."
    return render(request, "_review_queue.html", _context(v, params, notice=notice, after=None))


@router.post("/review/{charge_id}/{action}")
def row_action(
    request: Request,
    s: Reviewer,
    charge_id: int,
    action: str,
    period: Text,
    new: AttributionForm,
    note: Text = "",
    save_rule: Text = "",
    back: Text = "",
):
    if action not in review_views.ACTIONS:
        raise NotFound(f"unknown review action {action!r}")
    back = _back(back, f"/charges/{charge_id}")
    out = review_views.act(
        ctx_for(request, s),
        period,
        charge_id,
        action,
        view=_view_of(back),
        note=blank(note),
        pi=new.pi,
        project=new.project,
        fund=new.fund,
        save_rule=save_rule in ("1", "on", "true"),
    )
    if not is_htmx(request):
        return see_other(_with_msg(back, f"review-{action}"))
    message = f"Charge #{charge_id} {DONE[action]}" + (
        " and saved as a rule for future imports." if out.result.rule_id else "."
    )
    headers = {
        "HX-Trigger": json.dumps(
            {
                "rq-stakes": {
                    "count": out.count,
                    "countText": number(out.count),
                    "total": money(out.total),
                    "message": message,
                }
            }
        )
    }
    if not out.keep:
        return HTMLResponse("", headers=headers)
    return render(
        request,
        "_review_row.html",
        {"i": out.item, "period": period, "back": back, "act": True},
        headers=headers,
    )


# -- Settings: review rules ------------------------------------------------------------------
def _settings(
    request: Request,
    s,
    *,
    text: str | None = None,
    period: str | None = None,
    preview=None,
    error: str | None = None,
    status: int = 200,
):
    ctx = ctx_for(request, s)
    return render(
        request,
        "settings.html",
        {
            "config": settings_views.page(ctx),
            "rules": review_views.rules_form(ctx, period, text),
            "preview": preview,
            "rules_error": error,
        },
        status=status,
    )


@router.post("/settings/review-rules/preview")
def rules_preview(request: Request, s: SettingsAdmin, text: Text = "", period: Text = ""):
    try:
        p = review_views.preview(ctx_for(request, s), period, text)
    except InvalidInput as exc:
        if is_htmx(request):
            raise
        return _settings(request, s, text=text, period=period, error=exc.web, status=422)
    if is_htmx(request):
        return render(request, "_rules_preview.html", {"preview": p})
    return _settings(request, s, text=text, period=period, preview=p)


@router.post("/settings/review-rules")
def rules_save(request: Request, s: SettingsAdmin, text: Text = ""):
    try:
        review_views.save_rules(ctx_for(request, s), text)
    except InvalidInput as exc:
        return _settings(request, s, text=text, error=exc.message, status=422)
    return see_other("/settings?msg=rules-saved#review-rules")


@router.post("/settings/review-rules/recheck")
def rules_recheck(request: Request, s: SettingsAdmin, period: Text):
    review.recheck(ctx_for(request, s), period)
    return see_other(f"/review?{qs(period=period, msg='rechecked')}")
