"""`vangnet classify PATH...`: score photos and videos with the enabled classifiers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vangnet.cli.hash_cmd import iter_files, progress
from vangnet.cli.output import err_console, print_json, table, user_errors
from vangnet.config import Settings, get_settings
from vangnet.errors import ExitCode, MediaError, VangnetError


def calibrated_or_defaults(settings: Settings) -> dict[str, float]:
    """The deployment's stored classifier thresholds; when the database cannot be read,
    none, said on stderr (the scores are still given, ``likely`` at the defaults)."""
    from sqlalchemy.exc import SQLAlchemyError

    from vangnet.cli.context import session
    from vangnet.review.classifier_calibration import calibrated_thresholds

    try:
        with session() as s:
            return calibrated_thresholds(s, settings)
    except (VangnetError, SQLAlchemyError, OSError) as error:
        why = error.message if isinstance(error, VangnetError) else type(error).__name__
        err_console.print(
            f"stored classifier calibration not read ({why}): default thresholds",
            highlight=False,
        )
        return {}


def classify_command(
    paths: list[Path] = typer.Argument(..., help="Files or folders (recursive)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file (JSON Lines)."),
) -> None:
    """Score photos and videos with the classifiers this deployment enables (setting
    classifiers): how likely each shows what a classifier measures, with the evidence
    behind the score. A score orders review; it never confirms, reports or banks anything.

    Example: vangnet classify upload.jpg --json

    Each JSON line has `path`, `content_type`, `scores` (per classifier: `classifier`,
    `version`, `measures`, `value` in 0-1, `evidence`, `summary`; for a video the highest of
    its sampled frames, with `frame_time`), `summary`, `priority` (the scores fused into one
    explainable signal: `value`, `likely`, `summary`, `parts`), `errors` (a classifier that failed:
    the file has no score from it) and, for a video, `frames` (each sampled frame's scores).
    Files are decoded in memory only. Exit code 3 when some files could not be read, 1 when
    a classifier failed on some file.
    """
    from vangnet.signals.classifiers.enabled import enabled_classifiers
    from vangnet.signals.classifiers.fusion import Fusion
    from vangnet.signals.classifiers.media import classify_bytes
    from vangnet.signals.hashing import read_file

    with user_errors(as_json=as_json):  # a bad setting: its message and exit code 6
        settings = get_settings()
        classifiers = enabled_classifiers(settings)
    fusion = Fusion.from_settings(settings, calibrated=calibrated_or_defaults(settings))
    if not classifiers:
        err_console.print("no classifier is enabled (setting classifiers): nothing to score")
    files = list(iter_files(paths))
    unreadable = failed = 0
    rows: list[list[Any]] = []
    with progress() as bar:
        task = bar.add_task("classifying", total=len(files))
        for path in files:
            bar.advance(task)
            try:
                if not path.exists():
                    raise MediaError(f"no such file: {path}")
                data = read_file(path, settings=settings)
                result = classify_bytes(
                    data, settings=settings, classifiers=classifiers, path=str(path)
                )
            except VangnetError as error:
                unreadable += 1
                if as_json:
                    print_json({"path": str(path), "error": error.to_dict()})
                else:
                    rows.append([str(path), "error", "", f"{error.code}: {error.message}"])
                continue
            out = result.to_json(fusion)
            failed += bool(out["errors"])
            if as_json:
                print_json(out)
                continue
            for score in out["scores"]:
                at = f" at {score['frame_time']} s" if "frame_time" in score else ""
                rows.append(
                    [str(path), score["classifier"], f"{score['value']:.4f}", score["summary"] + at]
                )
            if out["priority"]["summary"]:
                priority = out["priority"]
                at = f" at {priority['frame_time']} s" if "frame_time" in priority else ""
                likely = " (likely)" if priority["likely"] else ""
                rows.append(
                    [
                        str(path),
                        "priority",
                        f"{priority['value']:.4f}",
                        priority["summary"] + likely + at,
                    ]
                )
            for error_entry in out["errors"]:
                rows.append(
                    [str(path), error_entry["classifier"], "failed", error_entry["message"]]
                )
    if not as_json:
        table(None, ["path", "classifier", "value", "summary"], rows)
    if unreadable:
        if not as_json:
            err_console.print(f"{unreadable} of {len(files)} files could not be read")
        raise typer.Exit(ExitCode.UNREADABLE_INPUT)
    if failed:
        if not as_json:
            err_console.print(f"a classifier failed on {failed} of {len(files)} files")
        raise typer.Exit(ExitCode.ERROR)
