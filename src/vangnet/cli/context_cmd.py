"""`vangnet context ...`: the context stage (payment, chat, call-session and account records,
their indicators, the account graph, the ranked accounts and their cases).

The Typer app every context command hangs on. Areas that export plain command functions are
registered here (``generate``, ``scan``, the ``chats`` sub-app); areas whose modules decorate
`context_app` themselves (``import``/``imports``, ``assess``/``accounts``/``account``/
``graph``) are imported by `vangnet.cli`.
"""

from __future__ import annotations

import typer

from vangnet.cli.context_chats_cmd import chats_app
from vangnet.cli.context_generate_cmd import generate_command
from vangnet.cli.context_scan_cmd import scan_command

context_app = typer.Typer(
    help="Context signals: payment, chat, call-session and account records, their indicators, "
    "the account graph, the ranked accounts and their cases.",
    no_args_is_help=True,
)
context_app.command("generate")(generate_command)
context_app.command("scan")(scan_command)
context_app.add_typer(chats_app, name="chats")
