"""`vangnet match PATH...`: hash files and match them against the banks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vangnet.cli.context import open_engine
from vangnet.cli.hash_cmd import iter_files, progress
from vangnet.cli.output import err_console, print_json, table, user_errors
from vangnet.config import get_settings
from vangnet.errors import ExitCode, MediaError, VangnetError


def match_command(
    paths: list[Path] = typer.Argument(..., help="Files or folders (recursive)."),
    bank: list[str] | None = typer.Option(
        None, "--bank", "-b", help="Only these banks (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file (JSON Lines)."),
) -> None:
    """Match photos and videos against the banks (PDQ, vPDQ and exact digests).

    Example: vangnet match upload.jpg --json

    Each JSON line has `path`, `content_type`, the hashes and `matches`: bank, content_id,
    signal_type, distance, category, and for a match found in a region of the photo or in a
    rotated / flipped variant, `region` (x, y, w, h) and `transform`. Regions (borders
    trimmed, the main picture, insets, video-call tiles) are looked up unless the setting
    match_regions is false. A photo's candidates between a bank's threshold and its
    verify_threshold are matches when local features kept at banking confirm them
    (`inliers`: how many keypoints agree). Exit code 3 when some files could not be read.
    """
    from sqlalchemy.orm import Session

    from vangnet.banks.bank import get_bank
    from vangnet.match.indexes import SignalIndexes
    from vangnet.match.service import Matcher
    from vangnet.signals.hashing import hash_file

    files = list(iter_files(paths))
    failed = 0
    rows: list[list[Any]] = []
    with user_errors(as_json=as_json), open_engine() as engine:
        indexes = SignalIndexes(engine, snapshot_dir=get_settings().snapshot_dir)
        indexes.load()
        matcher = Matcher(indexes, settings=get_settings())
        with Session(engine) as session, progress() as bar:
            for name in bank or []:  # an unknown bank is exit 4, not an unreadable file
                get_bank(session, name)
            task = bar.add_task("matching", total=len(files))
            for path in files:
                bar.advance(task)
                try:
                    if not path.exists():
                        raise MediaError(f"no such file: {path}")
                    hashed = hash_file(
                        path,
                        settings=get_settings(),
                        dihedral=True,
                        regions=get_settings().match_regions,
                        verify=True,
                    )
                    lookup = matcher.lookup_hashes(session, hashed, banks=bank)
                except (VangnetError, OSError) as error:
                    failed += 1
                    err = (
                        error.to_dict()
                        if isinstance(error, VangnetError)
                        else {"code": "unreadable_file", "message": str(error)}
                    )
                    if as_json:
                        print_json({"path": str(path), "error": err})
                    else:
                        rows.append([str(path), "error", err["code"], err["message"], ""])
                    continue
                if as_json:
                    print_json(lookup.to_json_line())
                elif not lookup.matches:
                    rows.append([str(path), "no match", "", "", ""])
                for m in lookup.matches if not as_json else ():
                    rows.append(
                        [
                            str(path),
                            m.bank,
                            m.content_id,
                            f"{m.signal_type} {m.distance}",
                            m.category or "",
                        ]
                    )
    if not as_json:
        table(None, ["path", "bank", "content id", "signal / distance", "category"], rows)
    if failed:
        if not as_json:
            err_console.print(f"{failed} of {len(files)} files could not be read")
        raise typer.Exit(ExitCode.UNREADABLE_INPUT)
