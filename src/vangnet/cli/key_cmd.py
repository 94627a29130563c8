"""`vangnet key create|list|revoke`: API keys with roles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from vangnet.auth.roles import Role
from vangnet.cli.context import lazy_keys, session
from vangnet.cli.output import console, print_json, table, user_errors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _audit(s: Session, action: str, target: str, **fields: Any) -> None:
    """Record a key change in the audit log, attributed to the OS user running the CLI."""
    from vangnet.audit import chain

    chain.record(s, actor=chain.cli_actor(), action=action, target=target, **fields)


key_app = typer.Typer(
    help="Manage API keys (admin, curator, matcher, reviewer).", no_args_is_help=True
)


@key_app.command("create")
def key_create(
    name: str = typer.Argument(..., help="A label, e.g. the client's name."),
    role: Role = typer.Option(Role.MATCHER, "--role", help="What the key may do."),
    user: str | None = typer.Option(
        None,
        "--user",
        metavar="USERNAME",
        help="The person (web user) the key belongs to; keys that decide cases need one.",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a key. The secret is shown once; only its hash is stored.

    Example: vangnet key create upload-service --role matcher
    Example: vangnet key create jansen-tools --role reviewer --user jansen
    """
    with user_errors(as_json=as_json), session() as s:
        view, secret = lazy_keys.create_key(s, name=name, role=role, user=user)
        _audit(
            s,
            "key.create",
            f"key:{view.id}",
            after={
                "name": view.name,
                "role": str(view.role),
                "prefix": view.prefix,
                **({"user": view.owner} if view.owner else {}),
            },
        )
        s.commit()
    if as_json:
        print_json(
            {
                "id": view.id,
                "name": view.name,
                "role": view.role,
                "prefix": view.prefix,
                "user": view.owner,
                "key": secret,
            }
        )
        return
    owner = f" for user {view.owner}" if view.owner else ""
    console.print(f"Created key [bold]{view.name}[/] ({view.role}){owner}, id {view.id}.")
    console.print("Secret (shown once, store it now):")
    console.print(secret, highlight=False, soft_wrap=True)


@key_app.command("list")
def key_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List keys (never their secrets). Example: vangnet key list"""
    with user_errors(as_json=as_json), session() as s:
        keys = lazy_keys.list_keys(s)
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "role": str(k.role),
            "prefix": k.prefix,
            "user": k.owner,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
            "last_used_at": k.last_used_at,
        }
        for k in keys
    ]
    if as_json:
        print_json(rows)
        return
    table(
        "API keys",
        ["id", "name", "role", "prefix", "user", "created", "revoked", "last used"],
        [list(r.values()) for r in rows],
    )


@key_app.command("revoke")
def key_revoke(
    key: str = typer.Argument(..., help="Key id or prefix."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Revoke a key at once. Example: vangnet key revoke 3"""
    with user_errors(as_json=as_json), session() as s:
        view = lazy_keys.revoke_key(s, int(key) if key.isdigit() else key)
        _audit(s, "key.revoke", f"key:{view.id}", after={"name": view.name, "revoked": True})
        s.commit()
    if as_json:
        print_json({"revoked": view.id})
    else:
        console.print(f"Revoked key {view.id} ({view.name}).")
