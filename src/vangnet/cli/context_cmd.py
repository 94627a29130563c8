"""`vangnet context ...`: the context stage (payment, chat, call and account records).

The Typer app every context command hangs on; each area adds its commands from its own
module (`vangnet.cli.context_import_cmd`: ``import`` and ``imports``), registered in
`vangnet.cli`.
"""

from __future__ import annotations

import typer

context_app = typer.Typer(
    help="Context records: payments, chats, calls and accounts; import them and list imports.",
    no_args_is_help=True,
)
