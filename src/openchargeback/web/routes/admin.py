"""Sources, users, settings and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from openchargeback.services import audit, sources, users
from openchargeback.web.pages import review as review_views
from openchargeback.web.pages import settings as settings_views
from openchargeback.web.routes.common import blank, ctx_for, ip, see_other
from openchargeback.web.security import AuditReader, Reader, SettingsReader, SourceAdmin, UserAdmin
from openchargeback.web.templating import render

router = APIRouter()
Text = Annotated[str, Form()]


@router.get("/sources")
def sources_list(request: Request, s: Reader):
    return render(request, "sources.html", {"items": sources.list_sources(ctx_for(request, s))})


@router.get("/sources/new")
def source_new(request: Request, s: SourceAdmin):
    return render(request, "source_form.html", {"src": None})


@router.post("/sources")
def source_create(
    request: Request,
    s: SourceAdmin,
    name: Text,
    display_name: Text = "",
    file_pattern: Text = "",
    cost_basis: Text = "billed",
    gl_fund_org: Text = "",
    gl_account: Text = "",
):
    info = sources.add_source(
        ctx_for(request, s),
        name,
        display_name=blank(display_name),
        file_pattern=blank(file_pattern),
        cost_basis=cost_basis,
        gl_fund_org=blank(gl_fund_org),
        gl_account=blank(gl_account),
        ip=ip(request),
    )
    return see_other(f"/sources?msg=source-added#src-{info.name}")


@router.get("/sources/{name}/edit")
def source_edit(request: Request, s: SourceAdmin, name: str):
    return render(request, "source_form.html", {"src": sources.get_source(ctx_for(request, s), name)})


@router.post("/sources/{name}")
def source_save(
    request: Request,
    s: SourceAdmin,
    name: str,
    display_name: Text = "",
    file_pattern: Text = "",
    cost_basis: Text = "billed",
    gl_fund_org: Text = "",
    gl_account: Text = "",
):
    sources.edit_source(
        ctx_for(request, s),
        name,
        display_name=display_name,
        file_pattern=file_pattern,
        cost_basis=cost_basis,
        gl_fund_org=gl_fund_org,
        gl_account=gl_account,
        ip=ip(request),
    )
    return see_other("/sources?msg=source-saved")


@router.get("/users")
def users_list(request: Request, s: UserAdmin):
    return render(request, "users.html", {"items": users.list_users(ctx_for(request, s))})


@router.post("/users")
def user_create(request: Request, s: UserAdmin, username: Text, password: Text, role: Text = "viewer"):
    users.add_user(ctx_for(request, s), username, password, role, ip=ip(request))
    return see_other("/users?msg=user-added")


@router.post("/users/{username}/role")
def user_role(request: Request, s: UserAdmin, username: str, role: Text):
    users.set_role(ctx_for(request, s), username, role, ip=ip(request))
    return see_other("/users?msg=role-changed")


@router.post("/users/{username}/password")
def user_password(request: Request, s: UserAdmin, username: str, password: Text):
    users.set_password(
        ctx_for(request, s),
        username,
        password,
        ip=ip(request),
        keep_session=s.id if username.lower() == s.username else None,
    )
    return see_other("/users?msg=password-reset")


@router.post("/users/{username}/disable")
def user_disable(request: Request, s: UserAdmin, username: str):
    users.set_disabled(ctx_for(request, s), username, True, ip=ip(request))
    return see_other("/users?msg=disabled")


@router.post("/users/{username}/enable")
def user_enable(request: Request, s: UserAdmin, username: str):
    users.set_disabled(ctx_for(request, s), username, False, ip=ip(request))
    return see_other("/users?msg=enabled")


@router.get("/settings")
def settings_page(request: Request, s: SettingsReader):
    ctx = ctx_for(request, s)
    return render(
        request,
        "settings.html",
        {
            "config": settings_views.page(ctx),
            "rules": review_views.rules_form(ctx),
            "preview": None,
            "rules_error": None,
        },
    )


@router.get("/audit")
def audit_page(
    request: Request,
    s: AuditReader,
    action: str | None = None,
    actor: str | None = None,
    q: str | None = None,
    before: int | None = None,
):
    page = audit.list_entries(
        ctx_for(request, s), action=blank(action), actor=blank(actor), text=blank(q), before_id=before
    )
    return render(
        request, "audit.html", {"page": page, "action": action or "", "actor": actor or "", "q": q or ""}
    )
