"""`tokens` commands: create, list, revoke personal access tokens of the API."""

from __future__ import annotations

from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, context, emit_json, table
from openchargeback.services import tokens as tokens_svc

tokens_app = typer.Typer(help="API tokens: create, list (with last use), revoke.", no_args_is_help=True)


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="The user the token acts as.", show_default=False)],
    scope: Annotated[str, typer.Option("--scope", help="read or write.")] = "read",
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Last day it works (YYYY-MM-DD, UTC) or an ISO time with zone."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="What it is for (shown in lists).")] = "",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a token for a user and print its secret (shown this once only)."""
    ctx = context(config)
    made = tokens_svc.create(ctx, user, scope, name=name, expires_at=tokens_svc.parse_expiry(expires))
    if as_json:
        emit_json({**made.token.as_json(), "secret": made.secret})
        return
    typer.echo(made.secret)
    typer.echo(
        f"token {made.token.id} for {made.token.username} ({made.token.scope}); "
        "store the secret now: it is not shown again",
        err=True,
    )


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List tokens with their scope, expiry, last use and state (never the secret)."""
    items = tokens_svc.list_tokens(context(config), user)
    if as_json:
        emit_json([t.as_json() for t in items])
        return

    def when(t):
        return f"{t:%Y-%m-%d %H:%M}" if t else "-"

    table(
        ["id", "user", "name", "prefix", "scope", "expires", "last used", "state"],
        [
            [
                t.id,
                t.username,
                t.name,
                t.prefix,
                t.scope,
                when(t.expires_at),
                when(t.last_used_at),
                "revoked" if t.revoked_at else "active",
            ]
            for t in items
        ],
    )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see `tokens list`).", show_default=False)],
    config: ConfigOpt = None,
) -> None:
    """Revoke a token: it stops working at once."""
    tokens_svc.revoke(context(config), token_id)
    typer.echo(f"revoked token {token_id}")
