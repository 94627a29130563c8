"""`vangnet context ...`: the context stage (payment, chat, call and account records).

The Typer app every context command hangs on; each area adds its commands from its own
module (`vangnet.cli.context_generate_cmd`: ``generate``), registered in `vangnet.cli`.
"""

from __future__ import annotations

import typer

from vangnet.cli.context_generate_cmd import generate_command

context_app = typer.Typer(
    help="Context records: payments, chats, calls and accounts.",
    no_args_is_help=True,
)
context_app.command("generate")(generate_command)
