"""`vangnet context ...`: the context stage (payments, chats, call sessions) from the command
line."""

from __future__ import annotations

import typer

from vangnet.cli.context_scan_cmd import scan_command

context_app = typer.Typer(
    help="Context signals: payments, chats and call sessions around accounts.",
    no_args_is_help=True,
)
context_app.command("scan")(scan_command)
