"""Single sign-on routes: OpenID Connect with Authlib (discovery, authorization code with
PKCE S256, state and nonce kept in a short signed cookie, ID token checked: signature,
issuer, audience, expiry, nonce) and the provider's logout; trusted-header sign-on
from a SAML service provider in front (honoured only from server.trusted_proxies)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from openchargeback.domain.errors import NotFound
from openchargeback.domain.roles import Forbidden, NotAuthenticated
from openchargeback.services import sso
from openchargeback.web import security
from openchargeback.web.proxies import TrustedProxies, client_address, parse_address
from openchargeback.web.routes.common import see_other
from openchargeback.web.templating import render

router = APIRouter()
STATE_COOKIE = "ocb_sso"  # Starlette's signed session: state, nonce, PKCE verifier, ID token


def install(app: Any) -> None:
    """Register the OpenID client when sso.oidc is configured (its signed cookie too)."""
    from authlib.integrations.starlette_client import OAuth  # type: ignore[import-untyped]
    from starlette.middleware.sessions import SessionMiddleware

    settings = app.state.settings
    oidc = settings.sso.oidc
    if oidc is None:
        return
    oauth = OAuth()
    oauth.register(
        "oidc",
        client_id=oidc.client_id,
        client_secret=oidc.client_secret,
        server_metadata_url=oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": " ".join(oidc.scopes), "code_challenge_method": "S256"},
    )
    app.state.oauth = oauth
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.server.secret_key or secrets.token_urlsafe(32),  # dev: this process
        session_cookie=STATE_COOKIE,
        max_age=settings.server.session_lifetime_minutes * 60,
        same_site="lax",
        https_only=not settings.dev_mode,
    )


def _client(request: Request):
    oauth = getattr(request.app.state, "oauth", None)
    if oauth is None:
        raise NotFound("single sign-on (sso.oidc) is not configured")
    return oauth.oidc


def _refused(request: Request, message: str):
    # a page that says why (the app's 401 handler would only send back to the login form)
    return render(request, "error.html", {"status": 403, "error": message, "periods": ()}, status=403)


def _home(role: str) -> str:
    return "/portal" if role in ("pi", "delegate") else "/"


@router.get("/login/oidc")
async def oidc_start(request: Request):
    return await _client(request).authorize_redirect(request, str(request.url_for("oidc_callback")))


@router.get("/login/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request):
    from authlib.integrations.base_client import OAuthError  # type: ignore[import-untyped]

    client = _client(request)
    oidc = request.app.state.settings.sso.oidc
    try:
        token = await client.authorize_access_token(request)  # state, PKCE, ID token, nonce
    except OAuthError as exc:
        return _refused(request, f"single sign-on failed: {exc.description or exc.error}")
    claims = token.get("userinfo") or {}
    groups = claims.get(oidc.groups_claim) or []
    ident = sso.Identity(
        issuer=oidc.issuer,
        subject=str(claims["sub"]),
        email=claims.get(oidc.email_claim),
        email_verified=bool(claims.get("email_verified", False)),
        name=claims.get(oidc.name_claim),
        groups=tuple(groups) if isinstance(groups, list) else (str(groups),),
    )
    address = client_address(request)
    try:
        login = await run_in_threadpool(
            sso.sign_in,
            request.app.state.ctx,
            ident,
            ip=address.address,
            user_agent=request.headers.get("user-agent"),
        )
    except NotAuthenticated as exc:
        return _refused(request, exc.message)
    request.session.clear()
    request.session["id_token"] = token.get("id_token")
    response = see_other(_home(login.session.role))
    security.set_session_cookie(request, response, login.token)
    return response


@router.get("/login/oidc/logout")
async def oidc_logout(request: Request):
    """After the local logout: end the provider's session too (RP-initiated logout)."""
    client = _client(request)
    id_token = request.session.pop("id_token", None)
    metadata = await client.load_server_metadata()
    end = metadata.get("end_session_endpoint")
    if not end or not id_token:
        return see_other("/login")
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": str(request.url_for("login_form")),
            "client_id": request.app.state.settings.sso.oidc.client_id,
        }
    )
    # a page, not a redirect: the logout form's CSP (form-action 'self') forbids following
    # its redirects to another site
    return render(request, "sso_logout.html", {"url": f"{end}?{query}", "periods": ()})


@router.get("/login/header")
async def header_sign_in(request: Request):
    """Sign-on by the headers of a SAML service provider (Shibboleth) in front, which
    protects this path: believed only when the peer is in server.trusted_proxies."""
    settings = request.app.state.settings
    conf = settings.sso.trusted_header
    if conf is None:
        raise NotFound("trusted-header sign-on (sso.trusted_header) is not configured")
    address = client_address(request)
    if not TrustedProxies(settings.server.trusted_proxies).trusts(parse_address(address.peer)):
        raise Forbidden(
            f"sign-on headers from {address.peer} are not believed (not in server.trusted_proxies)"
        )
    subject = (request.headers.get(conf.user_header) or "").strip()
    if not subject:
        raise NotAuthenticated(f"the proxy sent no {conf.user_header} header; sign in through it")
    raw_groups = request.headers.get(conf.groups_header) if conf.groups_header else None
    ident = sso.Identity(
        issuer=f"header:{conf.user_header}",
        subject=subject,
        email=(request.headers.get(conf.email_header) or "").split(";")[0].strip() or None,
        email_verified=True,  # the identity provider behind the proxy vouches for it
        name=request.headers.get(conf.name_header) if conf.name_header else None,
        groups=tuple(g.strip() for g in (raw_groups or "").split(";") if g.strip()),
    )
    login = await run_in_threadpool(
        sso.sign_in,
        request.app.state.ctx,
        ident,
        ip=address.address,
        user_agent=request.headers.get("user-agent"),
    )
    response = see_other(_home(login.session.role))
    security.set_session_cookie(request, response, login.token)
    return response
