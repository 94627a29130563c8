"""`vangnet triage SOURCE... --case NAME`: every file of folders, archives and disk images
into an investigation case (resumable: run it again after an interruption)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vangnet.cli.output import console, print_json, user_errors

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from vangnet.config import Settings


def _with_calibration(engine: Engine, settings: Settings) -> Settings:
    """``settings`` with the deployment's stored classifier calibration in
    ``classifier_thresholds`` (the setting itself still wins), so that the triage workers
    fuse scores with the thresholds `vangnet classifiers evaluate --save` stored."""
    from sqlalchemy.orm import Session

    from vangnet.review.classifier_calibration import calibrated_thresholds

    with Session(engine) as session:
        calibrated = calibrated_thresholds(session, settings)
    if not calibrated:
        return settings
    thresholds = {**calibrated, **settings.classifier_thresholds}
    return settings.model_copy(update={"classifier_thresholds": thresholds})


def triage_command(
    sources: list[Path] = typer.Argument(
        ..., help="Folders, files, archives (zip, tar, 7z, gz) or disk images (raw dd, E01)."
    ),
    case: str = typer.Option(..., "--case", help="The investigation case to add the files to."),
    workers: int = typer.Option(0, "--workers", min=0, help="Worker processes (0: one per core)."),
    no_ocr: bool = typer.Option(False, "--no-ocr", help="Skip reading text in pictures."),
    no_classify: bool = typer.Option(
        False,
        "--no-classify",
        help="Skip the classify step (the enabled classifiers scoring photos and video frames).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON at the end."),
    actor: str | None = typer.Option(None, "--as", help="Who runs it (audit log)."),
) -> None:
    """Triage sources into an investigation case: hashes (MD5, SHA-1, SHA-256, PDQ, vPDQ),
    bank matches, metadata, text, classifier scores (the priority signal: it orders the
    workbench, never decides); deleted files of disk images too. Originals are only read.

    Example: vangnet triage ./seized/ ./phone.zip ./laptop.E01 --case OP-2026-17
    """
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from vangnet.audit.chain import cli_actor
    from vangnet.cli.context import open_engine
    from vangnet.config import get_settings
    from vangnet.triage.run import Summary, Triage
    from vangnet.triage.tuning import Options, TriageTuning

    who = actor or cli_actor()
    with user_errors(as_json=as_json), open_engine() as engine:
        settings = get_settings()  # the entry point reads the settings; the steps get them
        tuning = TriageTuning.from_settings(settings)
        columns = (
            TextColumn("[bold]triage[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed} of ~{task.total} files · {task.fields[rate]} files/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
            # The files on disk are counted first (archives and disk images hold more, found
            # as they are opened: the total grows then).
            task = bar.add_task("", total=_count_files(sources), rate="-")
            started: list[float] = []

            def progress(summary: Summary, name: str) -> None:
                import time

                if not started:
                    started.append(time.monotonic())
                elapsed = max(time.monotonic() - started[0], 1e-3)
                done = summary.processed + summary.skipped
                total = bar.tasks[0].total or 0
                bar.update(
                    task,
                    total=max(total, done + 1),
                    completed=done,
                    description=name[:40],
                    rate=f"{summary.processed / elapsed:.0f}",
                )

            summary = Triage(
                engine,
                case=case,
                sources=[str(s) for s in sources],
                actor=who,
                settings=_with_calibration(engine, settings),
                options=Options(
                    ocr=not no_ocr, classify=not no_classify, workers=workers, tuning=tuning
                ),
                progress=progress,
                snapshot_dir=settings.snapshot_dir,
            ).run()
        from vangnet.audit.chain import record_now

        record_now(
            engine,
            actor=who,
            action="triage.run",
            target=f"investigation:{case}",
            details={"sources": [str(s) for s in sources][:100], "summary": summary.to_dict()},
        )
    data = summary.to_dict()
    if as_json:
        print_json(data)
        return
    console.print(
        f"Case [bold]{case}[/]: {data['files']} files ({data['processed']} new, "
        f"{data['skipped_already_done']} already done) in {data['seconds']} s"
        + (f", {data['files_per_second']} files/s" if data["files_per_second"] else "")
    )
    kinds = ", ".join(f"{n} {k}" for k, n in data["by_kind"].items())
    console.print(
        f"  kinds: {kinds or 'none'}; deleted files recovered: {data['deleted_recovered']}"
    )
    known = ", ".join(f"{n} {c}" for c, n in data["known"].items())
    console.print(f"  known: {data['known_total']} ({known or '-'}); unknown: {data['unknown']}")
    if not no_classify:
        console.print(
            f"  classified: {data['classified']}; likely new material: {data['likely_new']}"
        )
    if data["failures"]:
        console.print(f"  [yellow]{data['failed']} failed[/]:")
        for failure in data["failures"][:20]:
            console.print(f"    {failure['path']}: {failure['reason']}", highlight=False)


def _count_files(sources: list[Path]) -> int:
    import os

    count = 0
    for source in sources:
        if source.is_dir():
            for _root, _dirs, files in os.walk(source):
                count += len(files)
        elif source.exists():
            count += 1
    return max(count, 1)
