"""`vangnet context import KIND FILE` and `vangnet context imports`: load payment, chat,
call-session and account records from files (`vangnet.context.ingest`) and list the imports.

An import is all-or-nothing: a file with a bad row exits 6 (invalid data), lists the first
bad rows as ``line N: reason`` and stores nothing. An unknown kind exits 2, an unknown
format 6, each naming the known ones; a missing file exits 4, one that cannot be read (a
folder, no permission) 3.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import typer

from vangnet.cli.context import session
from vangnet.cli.context_cmd import context_app
from vangnet.cli.output import console, err_console, print_json, table, user_errors
from vangnet.errors import ExitCode, NotFoundError, VangnetError

if TYPE_CHECKING:
    from vangnet.context.ingest import BadRecordsError

#: Bad rows printed without ``--json`` (all the reported ones are in the JSON).
SHOWN_BAD_ROWS = 20


class UnreadableFileError(VangnetError):
    """The file to import could not be read: nothing was imported."""

    code = "unreadable_input"
    exit_code = ExitCode.UNREADABLE_INPUT


def _open(path: Path) -> BinaryIO:
    if str(path) == "-":
        return sys.stdin.buffer
    return path.open("rb")


@context_app.command("import")
def context_import(
    kind: str = typer.Argument(..., help="payments, messages, sessions or accounts."),
    path: Path = typer.Argument(..., help="File to import, or - for standard input."),
    fmt: str = typer.Option(
        "auto",
        "--format",
        "-f",
        help="auto (guessed from the first bytes), csv, jsonl, pacs008, pain001, mt103, "
        "whatsapp, telegram, or a plug-in's name.",
    ),
    timezone: str | None = typer.Option(
        None,
        "--timezone",
        help="IANA zone of times written without an offset (WhatsApp exports need it).",
    ),
    conversation: str | None = typer.Option(
        None, "--conversation", help="Conversation name of a WhatsApp export (default: file name)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Import records from a file: streamed, validated, idempotent, all-or-nothing.

    Example: vangnet context import payments payments.csv
    """
    from vangnet.audit.chain import cli_actor
    from vangnet.context.ingest import BadRecordsError, import_records, record_kind
    from vangnet.sources.records.base import ParseOptions
    from vangnet.sources.records.fields import FieldError, parse_zone

    with user_errors(as_json=as_json):
        record = record_kind(kind)
    zone = None
    if timezone is not None:
        try:
            zone = parse_zone(timezone)
        except FieldError as error:
            err_console.print(f"error (usage): --timezone: {error.reason}", highlight=False)
            raise typer.Exit(2) from None
    name = None if str(path) == "-" else path.name
    options = ParseOptions(timezone=zone, conversation=conversation, filename=name)
    with user_errors(as_json=as_json):
        try:
            with _open(path) as stream, session() as s:
                result = import_records(
                    s,
                    kind=record,
                    fmt=fmt,
                    stream=stream,
                    filename=name,
                    actor=cli_actor(),
                    options=options,
                )
                s.commit()
        except FileNotFoundError:
            raise NotFoundError(f"no such file: {path}") from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise UnreadableFileError(f"cannot read {path}: {reason}; nothing imported") from None
        except BadRecordsError as error:
            if as_json:
                raise
            _print_bad_rows(error)
            raise typer.Exit(error.exit_code) from None
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        f"Imported {result.rows} {result.kind} from {name or 'standard input'} "
        f"({result.format}): {result.added} added, {result.duplicates} already stored"
        + (f", {result.skipped} lines skipped" if result.skipped else "")
        + f". Import {result.import_id}.",
        highlight=False,
        markup=False,
    )


def _print_bad_rows(error: BadRecordsError) -> None:
    err_console.print(f"error ({error.code}): {error.message}", highlight=False, markup=False)
    for row in error.rows[:SHOWN_BAD_ROWS]:
        err_console.print(f"line {row.line}: {row.reason}", highlight=False, markup=False)
    if error.bad_rows > SHOWN_BAD_ROWS:
        err_console.print(f"... and {error.bad_rows - SHOWN_BAD_ROWS} more", markup=False)


@context_app.command("imports")
def context_imports(
    limit: int = typer.Option(100, "--limit", min=1, max=10_000, help="Newest this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the imports of context records, newest first."""
    from vangnet.context.ingest import import_dict, imports

    with user_errors(as_json=as_json), session() as s:
        rows = [import_dict(r) for r in imports(s, limit=limit)]
    if as_json:
        print_json(rows)
        return
    table(
        "Context imports",
        ["id", "kind", "format", "file", "rows", "added", "duplicates", "by", "at"],
        [
            [
                r["import_id"],
                r["kind"],
                r["format"],
                r["filename"] or "-",
                r["rows"],
                r["added"],
                r["duplicates"],
                r["actor"],
                r["created_at"],
            ]
            for r in rows
        ],
    )
