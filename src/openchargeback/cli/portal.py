"""`portal` commands: link pi users to registry PIs, grant delegates, list links."""

from __future__ import annotations

from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, context, emit_json, table
from openchargeback.services import portal

portal_app = typer.Typer(
    help="PI portal access: link pi users to PIs, grant delegates, list.", no_args_is_help=True
)

User = Annotated[str, typer.Option("--user", help="The user (role pi or delegate).", show_default=False)]
Pi = Annotated[str, typer.Option("--pi", help="The registry PI's email.", show_default=False)]


@portal_app.command("link")
def portal_link(user: User, pi: Pi, config: ConfigOpt = None) -> None:
    """Link a pi user to the registry PI of their verified email."""
    link = portal.link_pi(context(config), user, pi)
    typer.echo(f"{link.username} holds PI {link.pi_email}")


@portal_app.command("grant")
def portal_grant(user: User, pi: Pi, config: ConfigOpt = None) -> None:
    """Let a delegate user act for a PI."""
    link = portal.grant(context(config), user, pi)
    typer.echo(f"{link.username} acts for PI {link.pi_email}")


@portal_app.command("unlink")
def portal_unlink(user: User, pi: Pi, config: ConfigOpt = None) -> None:
    """Remove a user's link to a PI (pi or delegate)."""
    portal.unlink(context(config), user, pi)
    typer.echo(f"{user} no longer holds PI {pi}")


@portal_app.command("links")
def portal_links(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's links.")] = None,
    pi: Annotated[str | None, typer.Option("--pi", help="Only the links to this PI.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List who holds which PIs."""
    items = portal.list_links(context(config), username=user, pi_email=pi)
    if as_json:
        emit_json([x.as_json() for x in items])
        return
    table(
        ["user", "role", "pi", "kind", "granted by", "since"],
        [[x.username, x.role, x.pi_email, x.kind, x.granted_by, f"{x.created_at:%Y-%m-%d}"] for x in items],
    )
