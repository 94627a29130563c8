"""`vangnet db upgrade|current`: database migrations."""

from __future__ import annotations

import typer

from vangnet.cli.output import console, print_json, user_errors
from vangnet.config import get_settings

db_app = typer.Typer(
    help="Database migrations (SQLite by default, PostgreSQL by URL).", no_args_is_help=True
)


@db_app.command("upgrade")
def db_upgrade(as_json: bool = typer.Option(False, "--json")) -> None:
    """Bring the database schema to the newest revision.

    Example: VANGNET_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/vangnet vangnet db upgrade
    """
    from vangnet.store.migrate import current_revision, upgrade

    url = get_settings().effective_database_url
    with user_errors(as_json=as_json):
        before = current_revision(url)
        upgrade(url)
        rev = current_revision(url)
        if rev != before:
            from vangnet.audit.chain import attach_anchor, cli_actor, record_now
            from vangnet.store.db import make_engine

            engine = attach_anchor(make_engine(url), get_settings())
            try:
                record_now(
                    engine,
                    actor=cli_actor(),
                    action="db.upgrade",
                    target="database",
                    before={"revision": before},
                    after={"revision": rev},
                )
            finally:
                engine.dispose()
    if as_json:
        print_json({"revision": rev})
    else:
        console.print(f"database at revision {rev}")


@db_app.command("current")
def db_current(as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the schema revision of the database. Example: vangnet db current"""
    from vangnet.store.migrate import current_revision

    with user_errors(as_json=as_json):
        rev = current_revision(get_settings().effective_database_url)
    if as_json:
        print_json({"revision": rev})
    else:
        console.print(f"database at revision {rev}")
