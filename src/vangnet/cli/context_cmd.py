"""`vangnet context ...`: context signals (payments, chats, call sessions, accounts)."""

from __future__ import annotations

import typer

context_app = typer.Typer(
    help="Context signals: payment, chat, call-session and account records, their indicators, "
    "the account graph and the ranked accounts.",
    no_args_is_help=True,
)
