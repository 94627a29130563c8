"""After a triage: trace the case's screenshots to the videos (or pictures) they show.

The frame library holds every banked video (hash-only: its ``vpdq``, ``vpdq_cropped`` and
``vpdq_regions`` frames, as `vangnet bank add` stored them) and the case's own videos
(decoded again from their sources, so candidates are verified by local features).
Every photo is a candidate, up to ``triage_trace_max_screenshots``, except those that
cannot show another picture: a photo whose region proposals (`vangnet.signals.regions`,
recorded by the analysis as its ``regions`` finding: borders, a player's viewport, tiles,
insets) found nothing is skipped without being decoded again, unless its text has leads
typical of players and apps (timecodes, app names, file names) or it looks like a video
call. Text is never required: a clean frame inside black borders is traced. When regions
were not looked for (``match_regions`` false) every photo is tried; when text was not read
(OCR off), every PNG picture is tried as well (a whole-frame capture shows no region). Each
trace (video, timestamp, method, distance or inliers, region) goes into the item's findings.

The thresholds and limits are the ``triage_trace_*`` settings (`TriageTuning`), passed in.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.errors import VangnetError
from vangnet.store.db import writer
from vangnet.store.models import Bank, BankContent, ContentSignal, TriageItem
from vangnet.store.visibility import visible
from vangnet.triage.locate import read_chain
from vangnet.triage.tuning import TriageTuning

log = logging.getLogger(__name__)


def _is_candidate(item: TriageItem, text_was_read: bool, call_score: float) -> bool:
    """Whether photo ``item`` may show another picture (module doc): a region was
    proposed, regions were not looked for, or its text or layout say screenshot; when text
    was not read, every PNG picture too (a screen capture of a whole frame has no region and
    no text to give it away)."""
    findings = item.findings or {}
    if not text_was_read and item.content_type == "image/png":
        return True
    regions = findings.get("regions")
    if regions is None or regions:
        return True
    leads = findings.get("text_hints") or {}
    if leads.get("timecodes") or leads.get("apps") or leads.get("file_names"):
        return True
    return bool((findings.get("video_call") or {}).get("score", 0) >= call_score)


def _library(
    engine: Engine,
    case_id: int,
    tuning: TriageTuning,
    settings: Settings,
    pool: Executor | None = None,
) -> tuple[Any, dict[str, str]]:
    from vangnet.signals import vpdq
    from vangnet.triage.screenshot_library import video_hashes
    from vangnet.triage.screenshots import FrameLibrary

    library = FrameLibrary(
        settings=settings,
        fps=tuning.library_fps,
        dedupe_bits=tuning.library_dedupe_bits,
        quality_floor=tuning.library_quality_floor,
    )
    labels: dict[str, str] = {}
    with Session(engine) as session:
        rows = session.execute(
            select(Bank.name, BankContent.id, ContentSignal.signal_type, ContentSignal.value)
            .join(BankContent, BankContent.id == ContentSignal.content_id)
            .join(Bank, Bank.id == BankContent.bank_id)
            .where(
                ContentSignal.signal_type.in_(["vpdq", "vpdq_cropped", "vpdq_regions"]),
                BankContent.enabled.is_(True),
                visible(ContentSignal.import_id),  # nothing of an unpublished import
            )
        ).all()
        videos = list(
            session.scalars(
                select(TriageItem).where(
                    TriageItem.case_id == case_id,
                    TriageItem.kind == "video",
                    TriageItem.status == "ok",
                )
            )
        )
    banked: dict[str, list[Any]] = {}
    for bank, content_id, signal_type, value in rows:
        try:
            frames = vpdq.parse(value, regions=signal_type == "vpdq_regions")
        except VangnetError:
            continue
        banked.setdefault(f"bank:{bank}/{content_id}", []).extend(frames)
        labels[f"bank:{bank}/{content_id}"] = f"banked video {content_id} in {bank}"
    for name, frames in banked.items():
        try:
            library.add_hashes(name, frames)
        except VangnetError as exc:
            log.warning("banked video %s not usable for tracing: %s", name, exc)
    # the case's own videos are decoded and hashed in the run's worker processes, all at once
    # (in this process without a pool), and added in their order
    hashing: list[tuple[str, bytes, Future[Any] | None]] = []
    for index, video in enumerate(videos):
        name = f"item:{video.id}"
        labels[name] = f"{' > '.join(video.chain)} (item {video.id})"
        try:
            if index < tuning.trace_case_videos and video.size <= tuning.trace_video_bytes:
                data = read_chain(video.chain, sha256=video.sha256, locations=video.locations)
                job = (
                    pool.submit(video_hashes, data, library.fps, library.dedupe_bits)
                    if pool is not None
                    else None
                )
                hashing.append((name, data, job))
            elif video.vpdq:
                library.add_hashes(name, vpdq.parse(video.vpdq))
        except VangnetError as exc:
            log.warning("case video %s not usable for tracing: %s", name, exc)
    add_case_videos(library, hashing)
    return library, labels


def add_case_videos(library: Any, hashing: list[tuple[str, bytes, Future[Any] | None]]) -> None:
    """Add each ``(name, data, job)`` video to ``library`` in order: with the hashes its worker
    ``job`` made, or hashed here when there is no job or its worker died (hashed again, not
    left out). A video that cannot be decoded is left out with a warning."""
    for name, data, job in hashing:
        try:
            hashes = None
            if job is not None:
                try:
                    hashes = job.result()
                except VangnetError:
                    raise
                except Exception as exc:  # the worker died (or the pool broke): hash it here
                    log.warning("case video %s hashed again here: %s", name, type(exc).__name__)
            if hashes is None:
                library.add_video(name, data)
            else:
                library.add_hashed_video(name, data, hashes, library.fps)
        except VangnetError as exc:
            log.warning("case video %s not usable for tracing: %s", name, exc)


def trace_case(
    engine: Engine,
    case_id: int,
    *,
    text_was_read: bool,
    settings: Settings,
    tuning: TriageTuning | None = None,
    pool: Executor | None = None,
) -> int:
    """Trace the case's photos that may show another picture (module doc); returns how
    many were traced. ``tuning``: the run's ``triage_*`` values (default: the documented
    defaults). ``pool``: worker processes to hash the case's videos in (the run's own)."""
    tuning = tuning or TriageTuning()
    from vangnet.triage.screenshots import trace

    with Session(engine) as session:
        photos = list(
            session.scalars(
                select(TriageItem).where(
                    TriageItem.case_id == case_id,
                    TriageItem.kind == "photo",
                    TriageItem.status == "ok",
                )
            )
        )
    wanted = [p for p in photos if _is_candidate(p, text_was_read, tuning.trace_call_score)]
    candidates = wanted[: tuning.trace_max_screenshots]
    if not candidates:
        return 0
    library, labels = _library(engine, case_id, tuning, settings, pool)
    if not len(library):
        return 0
    traced = 0
    for item in candidates:
        try:
            found = trace(
                read_chain(item.chain, sha256=item.sha256, locations=item.locations),
                library,
                options=tuning.trace,
            )
        except VangnetError as exc:
            log.info("screenshot %s not traced: %s", item.id, exc)
            continue
        if not found:
            continue
        traced += 1
        with Session(writer(engine)) as session:
            row = session.get_one(TriageItem, item.id)
            traces = [
                {**t.to_dict(), "label": labels.get(t.name, t.name)}
                for t in found[: tuning.trace_results]
            ]
            row.findings = {**(row.findings or {}), "screenshot_of": traces}
            session.commit()
    return traced
