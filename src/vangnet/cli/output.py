"""Console output for the CLI: Rich tables for people, JSON lines for machines, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vangnet.errors import VangnetError

console = Console()
err_console = Console(stderr=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_default, ensure_ascii=False)


def print_json(obj: Any) -> None:
    """One JSON document on one line of stdout (JSON Lines)."""
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, show_lines=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def fail(error: VangnetError, *, as_json: bool = False) -> typer.Exit:
    """Report ``error`` (no traceback) and return the Exit to raise."""
    if as_json:
        print_json({"error": error.to_dict()})
    else:
        err_console.print(
            f"[bold red]error[/] ({error.code}): {escape(error.message)}", highlight=False
        )
    return typer.Exit(error.exit_code)


@contextmanager
def user_errors(*, as_json: bool = False) -> Iterator[None]:
    """Turn `VangnetError` into a clean message and its documented exit code."""
    try:
        yield
    except VangnetError as error:
        raise fail(error, as_json=as_json) from None
