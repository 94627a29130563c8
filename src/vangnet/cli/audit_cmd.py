"""`vangnet audit verify|export|list`: the tamper-evident audit log; and `--as`, the operator
name every auditable CLI command records."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer

from vangnet.cli.context import open_engine, session
from vangnet.cli.output import console, dumps, err_console, print_json, table, user_errors
from vangnet.errors import ExitCode, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

audit_app = typer.Typer(
    help="The tamper-evident audit log: verify, export, list.", no_args_is_help=True
)

AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="NAME",
        help="Who acts, as recorded in the audit log (default: cli:<os user>@<host>).",
    ),
]
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def actor_of(name: str | None) -> str:
    """The actor a CLI command records: ``--as NAME`` or ``cli:<os user>@<host>``."""
    if name is None:
        from vangnet.audit.chain import cli_actor

        return cli_actor()
    name = name.strip()
    if not name or len(name) > 255 or _UNPRINTABLE.search(name):
        raise ValidationError("--as takes a name of 1-255 printable characters")
    return name


def write_atomically(
    path: Path,
    produce: Callable[[BinaryIO], Any],
    *,
    before_rename: Callable[[], None] | None = None,
) -> None:
    """Write a file through a temporary file beside it, renamed into place when complete:
    a failure leaves no partial file (and no temporary one). ``before_rename`` runs once
    the data is on disk (e.g. committing the record of the export); if it fails, no file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with tmp.open("wb") as out:
            produce(out)
            out.flush()
            os.fsync(out.fileno())
        if before_rename is not None:
            before_rename()
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def reader() -> Iterator[Session]:
    """A session for reading only (no write lock held on SQLite while it runs)."""
    from sqlalchemy.orm import Session

    with open_engine() as engine, Session(engine) as s:
        yield s


@audit_app.command("verify")
def audit_verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Recompute the hash chain, each entry's MAC (audit key) and the signed checkpoints
    outside the database; exit 6 and say how and where it does not hold (edited, removed,
    reordered, recomputed without the key, truncated). A checkpoint is added when it holds.

    Example: vangnet audit verify
    """
    from vangnet.audit import chain

    with user_errors(as_json=as_json), reader() as s:
        verdict = chain.verify(s)
    if as_json:
        print_json(verdict.to_dict())
    elif verdict.ok:
        legacy = (
            f", {verdict.legacy_entries} written before the audit key (SHA-256 chain only)"
            if verdict.legacy_entries
            else ""
        )
        console.print(
            f"audit chain intact: {verdict.entries} entries{legacy}; "
            f"{verdict.checkpoints} checkpoints in {verdict.checkpoint_file}",
            highlight=False,
        )
    else:
        err_console.print(
            f"[bold red]audit chain broken[/] at entry {verdict.broken_seq}: {verdict.reason} "
            f"({verdict.entries} entries before it verified; {verdict.how}, found at "
            f"{verdict.where})",
            highlight=False,
        )
    if not verdict.ok:
        raise typer.Exit(ExitCode.INVALID_DATA)


@audit_app.command("export")
def audit_export(
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default stdout)."),
    actor: AsOption = None,
) -> None:
    """Export the whole log as JSON Lines (oldest first, with hashes) for an auditor, who can
    recompute the chain from the file alone. The export itself is the last entry.

    Example: vangnet audit export --out audit.jsonl
    """
    from vangnet.audit import chain

    with user_errors():
        who = actor_of(actor)
        with session() as s:
            chain.record(
                s,
                actor=who,
                action="audit.export",
                details={"to": str(out) if out is not None else "stdout"},
            )
            s.commit()
        with reader() as s:
            if out is None:
                count = chain.export(s, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                counted: list[int] = []
                write_atomically(out, lambda f: counted.append(chain.export(s, f)))
                count = counted[0]
    err_console.print(f"exported {count} audit entries")


def _changes(entry: dict[str, Any]) -> str:
    parts = [f"{key}: {dumps(entry[key])}" for key in ("before", "after", "details") if entry[key]]
    return "; ".join(parts)


@audit_app.command("list")
def audit_list(
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    action: str | None = typer.Option(
        None, "--action", help="Action prefix, e.g. case. or report.ncmec"
    ),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor's entries."),
    target: str | None = typer.Option(None, "--target", help="e.g. case:12 or user:alice"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The newest entries first. Example: vangnet audit list --action case. --limit 20"""
    from vangnet.audit import chain

    with user_errors(as_json=as_json), reader() as s:
        rows = chain.list_entries(s, limit=limit, action=action, actor=actor, target=target)
    if as_json:
        print_json(rows)
        return
    table(
        "Audit log",
        ["seq", "at", "actor", "action", "target", "details"],
        [[r["seq"], r["at"], r["actor"], r["action"], r["target"], _changes(r)] for r in rows],
    )
