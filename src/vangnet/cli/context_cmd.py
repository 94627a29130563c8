"""`vangnet context ...`: the context stage (payments, chats, calls, the account graph)."""

from __future__ import annotations

import typer

from vangnet.cli.context_chats_cmd import chats_app

context_app = typer.Typer(
    help="Context signals: payment, chat and call records of paid live-streamed abuse.",
    no_args_is_help=True,
)
context_app.add_typer(chats_app, name="chats")
