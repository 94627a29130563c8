"""The `vangnet` command.

Each command imports what it runs inside its own function: that is for start-up time only, so
`vangnet --help` and quick commands do not load FastAPI, PyAV, the live monitor or the triage
steps (importing everything the commands use takes about four times as long).
"""

from __future__ import annotations

import sys

import typer

from vangnet import __version__
from vangnet.cli import (
    context_accounts_cmd,  # noqa: F401  (adds its commands to context_app)
    context_import_cmd,  # noqa: F401  (its commands join context_app)
)
from vangnet.cli.audit_cmd import audit_app
from vangnet.cli.bank_cmd import bank_app
from vangnet.cli.case_cmd import case_app
from vangnet.cli.classifiers_cmd import classifiers_app
from vangnet.cli.classify_cmd import classify_command
from vangnet.cli.config_cmd import config_app, plugins
from vangnet.cli.context_cmd import context_app
from vangnet.cli.db_cmd import db_app
from vangnet.cli.deterrence_cmd import deterrence_app
from vangnet.cli.hash_cmd import hash_command
from vangnet.cli.key_cmd import key_app
from vangnet.cli.live_cmd import (
    alerts_app,
    streams_app,
    watch_command,
    webhooks_app,
    worker_command,
)
from vangnet.cli.match_cmd import match_command
from vangnet.cli.report_cmd import report_app
from vangnet.cli.serve_cmd import demo_command, serve_command
from vangnet.cli.triage_cmd import triage_command
from vangnet.cli.user_cmd import user_app
from vangnet.config import get_settings
from vangnet.errors import ExitCode, VangnetError
from vangnet.media.limits import MediaLimits, configure

app = typer.Typer(
    name="vangnet",
    help="Vangnet: hash, bank and match images and video against hash lists of known material.\n\n"
    "Exit codes: 0 ok, 1 error, 2 usage, 3 some inputs unreadable, 4 not found, 5 conflict, "
    "6 invalid data (nothing written), 7 database/service unavailable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _entry() -> None:
    """Before every command: install the process-wide media caps from the settings (the CLI is
    an entry point; everything below it gets its settings passed in)."""
    try:
        settings = get_settings()
    except VangnetError:
        return  # a bad configuration: the command reports it when it reads the settings
    configure(MediaLimits.from_settings(settings))


app.command("hash")(hash_command)
app.command("match")(match_command)
app.command("classify")(classify_command)
app.command("serve")(serve_command)
app.command("demo")(demo_command)
app.command("plugins")(plugins)
app.command("watch")(watch_command)
app.command("triage")(triage_command)
app.command("worker")(worker_command)
app.add_typer(streams_app, name="streams")
app.add_typer(alerts_app, name="alerts")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(bank_app, name="bank")
app.add_typer(key_app, name="key")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(user_app, name="user")
app.add_typer(case_app, name="case")
app.add_typer(report_app, name="report")
app.add_typer(context_app, name="context")
app.add_typer(audit_app, name="audit")
app.add_typer(classifiers_app, name="classifiers")
app.add_typer(deterrence_app, name="deterrence")


@app.command("version")
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    try:
        app()
    except VangnetError as error:  # anything a command did not catch itself
        print(f"error ({error.code}): {error.message}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # never a traceback to the user
        print(f"error (internal_error): {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(ExitCode.ERROR)
