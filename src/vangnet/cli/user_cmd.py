"""`vangnet user create|list|disable|enable|totp-reset`: people who sign in to the web UI."""

from __future__ import annotations

import sys
from typing import Any

import typer

from vangnet.cli.audit_cmd import AsOption, actor_of
from vangnet.cli.context import session
from vangnet.cli.output import console, print_json, table, user_errors
from vangnet.errors import ValidationError

user_app = typer.Typer(
    help="Web UI users (admin, curator, reviewer, analyst).", no_args_is_help=True
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not line:
            raise ValidationError("--password-stdin: no password on standard input")
        return line
    if not sys.stdin.isatty():
        raise ValidationError(
            "no terminal to ask for the password: pass it on standard input with --password-stdin"
        )
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("create")
def user_create(
    name: str = typer.Argument(..., help="User name: letters, digits and . _ @ -"),
    role: str = typer.Option(..., "--role", help="admin, curator, reviewer or analyst."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from one line of standard input."
    ),
    totp_now: bool = typer.Option(
        False,
        "--totp",
        help="Set up the second factor now (prints its QR code, link and recovery codes to "
        "hand to the person): nobody who learns the password can enrol a device of their own.",
    ),
    actor: AsOption = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a user; the password is asked twice (hidden), or read with --password-stdin.
    With --totp the second factor is set up at once, in one transaction with the user.

    Example: vangnet user create alice --role reviewer
    Example: vangnet user create root2 --role admin --totp
    Example: printf '%s\\n' "$PASSWORD" | vangnet user create bot --role analyst --password-stdin
    """
    from vangnet.auth import qr, totp, users
    from vangnet.config import get_settings

    with user_errors(as_json=as_json):
        who = actor_of(actor)
        password = _read_password(password_stdin)
        with session() as s:
            view = users.create_user(s, username=name, password=password, role=role, actor=who)
            enrolled: tuple[totp.Enrolment, list[str]] | None = None
            if totp_now:
                enrolled = totp.enrol_now(s, name, settings=get_settings(), actor=who)
            s.commit()
    if as_json:
        data: dict[str, Any] = view.to_dict()
        if enrolled is not None:
            data["totp"] = {
                "secret": enrolled[0].secret,
                "uri": enrolled[0].uri,
                "recovery_codes": enrolled[1],
            }
        print_json(data)
        return
    console.print(f"Created user [bold]{view.username}[/] ({view.role.value}).")
    if enrolled is not None:
        enrolment, codes = enrolled
        console.print(
            "Second factor set up. Give this to the person only (scan it with an "
            "authenticator app, or type the key):",
            highlight=False,
        )
        sys.stdout.write(qr.terminal(enrolment.uri))
        sys.stdout.flush()
        console.print(f"key:  {enrolment.secret}", highlight=False, soft_wrap=True)
        console.print(f"link: {enrolment.uri}", highlight=False, soft_wrap=True)
        console.print(f"recovery codes (each works once): {' '.join(codes)}", highlight=False)


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List users (never their password hashes). Example: vangnet user list"""
    from vangnet.auth import users

    with user_errors(as_json=as_json), session() as s:
        rows: list[dict[str, Any]] = [u.to_dict() for u in users.list_users(s)]
    if as_json:
        print_json(rows)
        return
    table(
        "Users",
        ["id", "name", "role", "disabled", "created", "last login"],
        [
            [r["id"], r["username"], r["role"], r["disabled"], r["created_at"], r["last_login_at"]]
            for r in rows
        ],
    )


def _set_disabled(name: str, disabled: bool, actor: str | None, as_json: bool) -> None:
    from vangnet.auth import users

    with user_errors(as_json=as_json):
        who = actor_of(actor)
        with session() as s:
            view = users.set_disabled(s, name, disabled=disabled, actor=who)
            s.commit()
    if as_json:
        print_json(view.to_dict())
    else:
        console.print(f"User [bold]{name}[/] {'disabled' if disabled else 'enabled'}.")


@user_app.command("disable")
def user_disable(
    name: str, actor: AsOption = None, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Disable a user and end their web sessions at once. Example: vangnet user disable alice"""
    _set_disabled(name, True, actor, as_json)


@user_app.command("enable")
def user_enable(
    name: str, actor: AsOption = None, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Let a disabled user sign in again. Example: vangnet user enable alice"""
    _set_disabled(name, False, actor, as_json)


@user_app.command("totp-reset")
def user_totp_reset(
    name: str, actor: AsOption = None, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Remove a user's second factor (lost phone) and end their web sessions; they set up a
    new one at their next sign-in. Audited. Example: vangnet user totp-reset alice"""
    from vangnet.auth import totp

    with user_errors(as_json=as_json):
        who = actor_of(actor)
        with session() as s:
            had = totp.reset(s, name, actor=who)
            s.commit()
    if as_json:
        print_json({"username": name, "reset": had})
    elif had:
        console.print(f"Second factor of [bold]{name}[/] removed; set it up again at sign-in.")
    else:
        console.print(f"User [bold]{name}[/] had no second factor; nothing else changed.")
