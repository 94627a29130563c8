"""`vangnet hash PATH...`: hash files and folders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vangnet.cli.output import err_console, print_json, table
from vangnet.config import get_settings
from vangnet.errors import ExitCode, MediaError, VangnetError
from vangnet.media.sniff import ContentType

if TYPE_CHECKING:
    from vangnet.signals.hashes import Hashes


def iter_files(paths: list[Path]) -> Iterator[Path]:
    """Files named, and files under folders named (recursive, sorted, hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(p.startswith(".") for p in child.parts[-1:]):
                    yield child
        else:
            yield path


@dataclass(frozen=True, slots=True)
class HashFailure:
    """A file that could not be hashed: its path and the error (``code``, ``message``)."""

    path: str
    error: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """The JSON line printed for it: ``{"path", "error": {"code", "message"}}``."""
        return {"path": self.path, "error": dict(self.error)}


def hash_one(
    path: Path,
    *,
    all_frames: bool = False,
    video_fps: float | None = None,
    for_bank: bool = False,
) -> Hashes | HashFailure:
    """Hash one file; a failure becomes a `HashFailure`."""
    from vangnet.signals.hashing import hash_file

    try:
        if not path.exists():
            raise MediaError(f"no such file: {path}")
        return hash_file(
            path,
            settings=get_settings(),
            all_frames=all_frames,
            video_fps=video_fps,
            for_bank=for_bank,
        )
    except VangnetError as error:
        return HashFailure(str(path), error.to_dict())
    except OSError as error:
        return HashFailure(str(path), {"code": "unreadable_file", "message": str(error)})


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def hash_command(
    paths: list[Path] = typer.Argument(..., help="Files or folders (recursive)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file (JSON Lines)."),
    all_frames: bool = typer.Option(
        False, "--all-frames", help="Hash every frame of animated images, not only the first."
    ),
) -> None:
    """Hash photos and videos: MD5, SHA-1, SHA-256 and PDQ (photos) or vPDQ (videos).

    Example: vangnet hash ~/Pictures --json > hashes.jsonl

    Exit code 3 when some files could not be read; the others are still hashed.
    """
    files = list(iter_files(paths))
    failed = 0
    rows: list[list[Any]] = []
    with progress() as bar:
        task = bar.add_task("hashing", total=len(files))
        for path in files:
            result = hash_one(path, all_frames=all_frames)
            bar.advance(task)
            if isinstance(result, HashFailure):
                failed += 1
            if as_json:
                print_json(result.to_json())
            elif isinstance(result, HashFailure):
                rows.append([str(path), "error", result.error["code"], result.error["message"]])
            elif result.content_type is ContentType.VIDEO:
                frames = len(result.video_frames["vpdq"])
                rows.append([str(path), "video", f"{frames} frames", result.values["md5"]])
            else:
                pdq = f"{result.values['pdq']} (q={result.qualities['pdq']})"
                rows.append([str(path), "photo", pdq, result.values["md5"]])
    if not as_json:
        table(None, ["path", "type", "pdq / vpdq", "md5 / error"], rows)
    if failed:
        if not as_json:
            err_console.print(f"{failed} of {len(files)} files could not be hashed")
        raise typer.Exit(ExitCode.UNREADABLE_INPUT)
