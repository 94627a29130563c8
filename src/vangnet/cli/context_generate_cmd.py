"""`vangnet context generate`: write a seeded synthetic population of payments, chats, call
sessions and accounts, with its ground truth, for trying the context stage and for tests
(`vangnet.context.synthetic`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vangnet.cli.output import console, print_json, user_errors
from vangnet.errors import ConflictError

FILES = ("payments.csv", "messages.jsonl", "sessions.jsonl", "accounts.csv", "truth.csv")


def generate_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files into.")],
    senders: Annotated[
        int, typer.Option(min=1, max=2_000_000, help="How many senders (ordinary and offenders).")
    ] = 2000,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months of records.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same files.")] = 0,
    offender_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of senders that are offenders (0-1)."),
    ] = 0.01,
    force: Annotated[bool, typer.Option(help="Overwrite files already in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Write payments.csv, messages.jsonl, sessions.jsonl, accounts.csv (the documented
    context file schema) and truth.csv (the planted offenders, their typology and role).
    Synthetic and benign: the chats only arrange times, prices and payment handles."""
    from vangnet.context.synthetic import generate, write_files

    with user_errors(as_json=as_json):
        existing = [name for name in FILES if (out / name).exists()]
        if existing and not force:
            raise ConflictError(f"{out} already has {', '.join(existing)} (use --force)")
        if out.exists() and not out.is_dir():
            raise ConflictError(f"{out} is not a folder")
        population = generate(
            senders=senders, months=months, seed=seed, offender_rate=offender_rate
        )
        written = write_files(population, out)
    if as_json:
        print_json({"out": str(out), "files": written, "seed": seed})
        return
    for name, count in written.items():
        console.print(f"{out / name}: {count} rows")
