"""`users` commands: add, list, set-password, disable, enable, hash-password."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, JsonOpt, context, emit_json, table
from openchargeback.services import users as users_svc

users_app = typer.Typer(help="Web users: add, list, set passwords, disable.", no_args_is_help=True)

UserArg = Annotated[str, typer.Argument(help="User name (case-insensitive).", show_default=False)]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input instead of a prompt.")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    username: UserArg,
    role: Annotated[str, typer.Option("--role", help="admin, reviewer, viewer, pi or delegate.")] = "viewer",
    password_stdin: PasswordStdin = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user (asks for the password)."""
    ctx = context(config)
    u = users_svc.add_user(ctx, username, _password(password_stdin), role)
    if as_json:
        emit_json(u.as_json())
    else:
        typer.echo(f"added user {u.username} ({u.role})")


@users_app.command("list")
def users_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List users with their role and state."""
    items = users_svc.list_users(context(config))
    if as_json:
        emit_json([u.as_json() for u in items])
        return
    table(
        ["user", "role", "state", "from", "sessions", "password changed"],
        [
            [
                u.username,
                u.role,
                "disabled" if u.disabled else "active",
                "config" if u.from_config else "database",
                u.active_sessions,
                f"{u.password_changed_at:%Y-%m-%d %H:%M}",
            ]
            for u in items
        ],
        right={4},
    )


@users_app.command("set-password")
def users_set_password(
    username: UserArg,
    password_stdin: PasswordStdin = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a user's password; their sessions end."""
    ctx = context(config)
    u = users_svc.set_password(ctx, username, _password(password_stdin))
    if as_json:
        emit_json(u.as_json())
    else:
        typer.echo(f"password of {u.username} changed; their sessions were ended")


@users_app.command("disable")
def users_disable(username: UserArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Disable a user: they cannot log in and their sessions end."""
    u = users_svc.set_disabled(context(config), username, True)
    if as_json:
        emit_json(u.as_json())
    else:
        typer.echo(f"user {u.username} disabled")


@users_app.command("enable")
def users_enable(username: UserArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Enable a disabled user again."""
    u = users_svc.set_disabled(context(config), username, False)
    if as_json:
        emit_json(u.as_json())
    else:
        typer.echo(f"user {u.username} enabled")


@users_app.command("hash-password")
def users_hash_password(password_stdin: PasswordStdin = False) -> None:
    """Print an Argon2id hash for a `users:` entry of the config file."""
    typer.echo(users_svc.hash_password(_password(password_stdin)))
