"""The signed-in user's personal access tokens: create (the secret shown once), list
with last use, revoke. Any role; a token acts with its user's role and scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request

from openchargeback.services import tokens
from openchargeback.services.auth import Session
from openchargeback.web.routes.common import ctx_for, ip, see_other
from openchargeback.web.security import SignedIn
from openchargeback.web.templating import render

router = APIRouter()


Text = Annotated[str, Form()]


def _page(request: Request, s: Session, created: tokens.Created | None = None, status: int = 200):
    items = tokens.list_tokens(ctx_for(request, s), s.username)
    layout = "portal/layout.html" if s.role in ("pi", "delegate") else "base.html"
    return render(
        request,
        "portal/tokens.html",
        {"items": items, "created": created, "layout": layout, "periods": ()},
        status=status,
    )


@router.get("/account/tokens")
def tokens_page(request: Request, s: SignedIn):
    return _page(request, s)


@router.post("/account/tokens")
def tokens_create(request: Request, s: SignedIn, name: Text = "", scope: Text = "read", expires: Text = ""):
    made = tokens.create(
        ctx_for(request, s),
        s.username,
        scope,
        name=name,
        expires_at=tokens.parse_expiry(expires or None),
        ip=ip(request),
    )
    return _page(request, s, made, status=201)


@router.post("/account/tokens/{token_id}/revoke")
def tokens_revoke(request: Request, s: SignedIn, token_id: Annotated[int, Path(ge=1, le=2**31 - 1)]):
    tokens.revoke(ctx_for(request, s), token_id, username=s.username, ip=ip(request))
    return see_other("/account/tokens")
