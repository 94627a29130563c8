"""`vangnet deterrence check|stats`: try the search-deterrence check against the configured
term lists, and read its aggregate counts (`vangnet.context.deterrence`; docs/deterrence.md)."""

from __future__ import annotations

import typer

from vangnet.cli.output import console, print_json, table, user_errors
from vangnet.config import get_settings

deterrence_app = typer.Typer(
    help="Deterrence for searchers: check a query against the term lists, read the counts.",
    no_args_is_help=True,
)


@deterrence_app.command("check")
def check_command(
    query: str = typer.Argument(..., help="The search query to try."),
    language: str | None = typer.Option(None, "--language", help="ISO 639 code, e.g. nl."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object (the API's answer)."),
) -> None:
    """Answer QUERY as POST /v1/deterrence/check would, for an operator trying the term lists
    (setting deterrence_term_files). Nothing is counted or stored: trying a list does not
    change the counts. Exit code 6 for an empty or too long query, a bad language code or a
    term or help file that cannot be read."""
    from vangnet.context.deterrence.check import Deterrence

    with user_errors(as_json=as_json):
        answer = Deterrence.from_settings(get_settings()).check(query, language)
    if as_json:
        print_json(answer.as_json())
        return
    if not answer.enabled:
        console.print(
            "no term list loaded (setting deterrence_term_files): no warning", markup=False
        )
    elif not answer.warn:
        console.print("no warning", markup=False)
    else:
        route = answer.help
        assert route is not None
        phone = f", {route.phone}" if route.phone else ""
        console.print(
            f"warn (list {answer.list_name}): {answer.message}\n"
            f"help: {route.name}, {route.url}{phone}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@deterrence_app.command("stats")
def stats_command(
    days: int = typer.Option(30, "--days", min=1, max=3660, help="Days back, today included."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object a day, list, language."),
) -> None:
    """The aggregate counts of the deterrence check per UTC day, matched list and language:
    checks and warnings (the only thing the check stores)."""
    from datetime import UTC, datetime, timedelta

    from vangnet.cli.context import session
    from vangnet.context.deterrence.counts import day_counts

    since = datetime.now(UTC).date() - timedelta(days=days - 1)
    with user_errors(as_json=as_json), session() as s:
        rows = day_counts(s, since=since)
    if as_json:
        for row in rows:
            print_json(row.as_json())
        return
    table(
        f"deterrence checks since {since.isoformat()}",
        ["day", "list", "language", "checks", "warnings"],
        [[r.day.isoformat(), r.list_name or "-", r.language, r.checks, r.warnings] for r in rows],
    )
