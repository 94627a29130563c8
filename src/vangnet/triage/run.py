"""Triage: every file of some sources into an investigation case, in parallel, resumable.

The walk (`vangnet.sources.archives`) runs in this process and yields files in a stable
order; files already recorded for the case (by the SHA-256 of their chain) are skipped, so
a run that was killed at any moment continues where it stopped and ends with the same
result as one that was not. The rest are analysed by a pool of worker processes (hashes,
perceptual hashes, metadata, text: `analyse`), matched against every bank here (the
indexes are loaded once: a photo's whole picture, its dihedral variants and, with
``match_regions``, the regions `vangnet match` looks up) and written in batches: a
file's row is written only when all its analysis is done, so a crash loses at most the
batch in flight, never half a file.

Suspect files are read into memory and never written anywhere; originals are opened
read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.cases.intake import Intake, Source, file_intake
from vangnet.children import die_with_parent
from vangnet.config import Settings
from vangnet.errors import VangnetError
from vangnet.media.limits import MediaLimits, media_limits
from vangnet.media.limits import configure as configure_media
from vangnet.media.sniff import ContentType
from vangnet.sources.archives import walk
from vangnet.sources.entries import Entry, forget
from vangnet.store.db import writer
from vangnet.store.models import TriageItem, TriageRun, utcnow
from vangnet.triage.result import (
    Digests,
    Findings,
    Kind,
    StepInput,
    StepResult,
    TriageResult,
    signal_rows,
)
from vangnet.triage.tuning import Options

if TYPE_CHECKING:
    from vangnet.match.results import Match
    from vangnet.match.service import Matcher
    from vangnet.signals.classifiers.media import FrameSpread

log = logging.getLogger(__name__)


@dataclass
class Summary:
    case: str
    case_id: int
    run_id: int
    files: int = 0  # seen in the sources
    processed: int = 0  # analysed by this run
    skipped: int = 0  # already recorded by an earlier run
    by_kind: Counter[str] = field(default_factory=Counter)
    known: Counter[str] = field(default_factory=Counter)  # per category
    unknown: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    deleted: int = 0
    series: int = 0  # groups of near-duplicate photos in the case
    screenshots_traced: int = 0  # screenshots traced to a video or picture they show
    classified: int = 0  # photos and videos the classify step scored
    likely_new: int = 0  # of those, likely by the classifiers and matching no bank
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "case_id": self.case_id,
            "run_id": self.run_id,
            "files": self.files,
            "processed": self.processed,
            "skipped_already_done": self.skipped,
            "by_kind": dict(sorted(self.by_kind.items())),
            "known": dict(sorted(self.known.items())),
            "known_total": sum(self.known.values()),
            "unknown": self.unknown,
            "deleted_recovered": self.deleted,
            "series": self.series,
            "screenshots_traced": self.screenshots_traced,
            "classified": self.classified,
            "likely_new": self.likely_new,
            "failed": len(self.failures),
            "failures": self.failures,
            "seconds": round(self.seconds, 2),
            "files_per_second": round(self.processed / self.seconds, 1) if self.seconds else None,
        }


# -- the case ------------------------------------------------------------------------------


def open_case(engine: Engine, name: str, *, actor: str) -> int:
    """The investigation case ``name``, created if new (through the one case intake,
    `vangnet.cases.intake`; a new case is audited)."""
    from vangnet.audit import chain

    with Session(writer(engine)) as session:
        filed = file_intake(session, Intake(source=Source.TRIAGE, name=name, actor=actor))
        if filed.created:
            chain.record(
                session,
                actor=actor,
                action="case.create",
                target=f"case:{filed.case.id}",
                after={"kind": "investigation", "name": filed.case.title},
            )
        session.commit()
        return filed.case.id


def _done_keys(engine: Engine, case_id: int) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(TriageItem.key).where(TriageItem.case_id == case_id)))


# -- analysis (in worker processes) ----------------------------------------------------------


def stream_digests(path: Path) -> Digests:
    """Exact digests of a large file, read in chunks (disk images, long videos)."""
    with path.open("rb") as handle:
        return digests_of(handle)[0]


def digests_of(handle: IO[bytes], head: bytes = b"") -> tuple[Digests, int]:
    """Exact digests and size of ``head`` followed by the rest of a stream, read in chunks
    (never held whole)."""
    md5, sha1, sha256 = hashlib.md5(head), hashlib.sha1(head), hashlib.sha256(head)
    size = len(head)
    while chunk := handle.read(8 * 1024 * 1024):
        md5.update(chunk)
        sha1.update(chunk)
        sha256.update(chunk)
        size += len(chunk)
    return Digests(md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()), size


def _container_kind(container: str) -> Kind:
    return "image" if container in ("raw", "ewf") else "archive"


def _container_result(entry: Entry) -> TriageResult:
    """What triage records of a container (archive or disk image) itself: its digests,
    streamed from its source (an archive inside an archive is never read whole for them)."""
    from vangnet.media.sniff import media_type

    with contextlib.closing(entry.stream()) as handle:
        head = handle.read(4096)
        digests, size = digests_of(handle, head)
    if not entry.size:  # a decompressed stream's size is known once it has been read
        entry.size = size
    return TriageResult(
        kind=_container_kind(entry.container or ""),
        content_type=media_type(head) if head else None,
        digests=digests,
    )


Step = Callable[[bytes, StepInput, Options], StepResult]


def _steps() -> list[Step]:
    """Per-item analysis steps beyond hashing (metadata, text, screenshots), as installed."""
    from vangnet.triage import steps

    return list(steps.STEPS)


def analyse(
    data: bytes, container: str | None, options: Options, settings: Settings
) -> TriageResult:
    """Everything about one file's bytes (runs in a worker process)."""
    from vangnet.media.sniff import media_type
    from vangnet.signals.hashing import hash_bytes

    content_type = media_type(data) if data else None
    if container is not None:
        return TriageResult(
            kind=_container_kind(container), content_type=content_type, digests=Digests.of(data)
        )
    note: str | None = None
    spread = _classify_spread(options, settings)  # a video's frames for the classifiers
    try:
        small = len(data) <= options.tuning.perceptual_max_bytes
        hashed = (
            hash_bytes(
                data,
                settings=settings,
                dihedral=True,
                regions=settings.match_regions,
                verify=True,
                observe=spread.add if spread is not None else None,
            )
            if small
            else None
        )
    except VangnetError as exc:
        hashed = None
        note = exc.message
    if hashed is None:
        if content_type and content_type != "application/octet-stream":
            return TriageResult(
                content_type=content_type,
                status="failed",
                reason=note or "not decodable",
                digests=Digests.of(data),
            )
        return TriageResult(content_type=content_type, note=note, digests=Digests.of(data))
    kind: Kind = "photo" if hashed.content_type is ContentType.PHOTO else "video"
    regions = None
    if kind == "photo" and settings.match_regions:  # the same proposals `vangnet match` uses
        regions = tuple(
            {"x": r.box.x, "y": r.box.y, "w": r.box.w, "h": r.box.h, "kind": r.kind}
            for r in hashed.regions
        )
    findings = Findings(pdq_dihedral=tuple(hashed.dihedral), regions=regions)
    hashed = replace(hashed, dihedral=())  # regions stay until matched (`Triage._write`)
    result = TriageResult(
        kind=kind,
        content_type=content_type,
        digests=Digests.from_hashes(hashed),
        hashes=hashed,
        findings=findings,
    )
    given = StepInput(kind=kind, hashes=hashed)
    steps: list[Step] = _steps()
    if options.classify:
        from vangnet.triage.steps import classify_step

        # a video's frames were spread for the classifiers while it was hashed: not decoded again
        seen = spread.frames() if spread is not None and kind == "video" else None

        def classify(data: bytes, given: StepInput, options: Options) -> StepResult:
            return classify_step(data, given, options, settings, frames=seen)

        classify.__name__ = "classify"
        steps.append(classify)
    for step in steps:
        try:
            result = result.with_step(step(data, given, options))
        except VangnetError as exc:
            result = result.with_problem(f"{step.__name__}: {exc.message}")
        except Exception as exc:  # a step that crashes on odd input must not stop triage
            log.warning("triage step %s failed: %s", step.__name__, exc)
            result = result.with_problem(f"{step.__name__}: {type(exc).__name__}")
    scored = result.findings.other.get("classifiers")
    for error in scored.get("errors", []) if isinstance(scored, dict) else []:
        result = result.with_problem(f"classify: {error['classifier']}: {error['message']}")
    return result


def _classify_spread(options: Options, settings: Settings) -> FrameSpread | None:
    """What gathers a video's frames for the classify step as its hashing decodes them
    (None: the step is off or no classifier is enabled)."""
    if not options.classify:
        return None
    from vangnet.signals.classifiers.enabled import enabled_classifiers
    from vangnet.signals.classifiers.media import FrameSpread, frame_side

    try:
        classifiers = enabled_classifiers(settings)
    except VangnetError:
        return None  # the step itself says why
    if not classifiers:
        return None
    return FrameSpread(settings.classify_video_frames, frame_side(classifiers))


def _init_worker(limits: MediaLimits) -> None:
    die_with_parent()
    configure_media(limits)  # a spawned interpreter: the caps its parent was given
    # Keep each worker to one thread of numeric work: the pool is the parallelism.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def _pool_context() -> Any:
    """Workers are fresh interpreters (spawned), children of this process: a fork of a process
    whose OpenCV or ONNX Runtime threads ran (screenshot tracing, OCR) can hang, and as direct
    children they die with it (`die_with_parent`)."""
    import multiprocessing

    return multiprocessing.get_context("spawn")


# -- the run -------------------------------------------------------------------------------


@dataclass
class _Pending:
    entry: Entry
    future: Future[TriageResult] | None
    result: TriageResult | None = None


class Triage:
    """One run. ``progress(done, total_hint, name)`` is called as files finish;
    ``snapshot_dir`` is where the bank indexes' snapshots are (the caller's settings: the
    indexes are built from the database without it)."""

    def __init__(
        self,
        engine: Engine,
        *,
        case: str,
        sources: list[str],
        actor: str,
        settings: Settings,
        options: Options | None = None,
        progress: Callable[[Summary, str], None] | None = None,
        snapshot_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.case = case
        self.sources = sources
        self.actor = actor
        self.options = options or Options()
        self.progress = progress
        self.snapshot_dir = snapshot_dir
        self._workers = 1

    def run(self) -> Summary:
        from vangnet.match.indexes import SignalIndexes
        from vangnet.match.service import Matcher

        started = time.monotonic()
        for source in self.sources:
            if not Path(source).exists():
                from vangnet.errors import NotFoundError

                raise NotFoundError(f"no such file or folder: {source}")
        if self.options.classify:  # a bad ``classifiers`` setting stops the run before it starts
            from vangnet.signals.classifiers.enabled import enabled_names

            enabled_names(self.settings)
        case_id = open_case(self.engine, self.case, actor=self.actor)
        with Session(writer(self.engine)) as session:
            run = TriageRun(
                case_id=case_id,
                sources={"paths": [str(Path(s).resolve()) for s in self.sources]},
                options=self.options.to_dict(),
                actor=self.actor,
            )
            session.add(run)
            session.commit()
            run_id = run.id
        summary = Summary(case=self.case, case_id=case_id, run_id=run_id)
        done = _done_keys(self.engine, case_id)
        snapshots = (
            self.snapshot_dir if self.snapshot_dir is not None else self.settings.snapshot_dir
        )
        indexes = SignalIndexes(self.engine, snapshot_dir=snapshots)
        indexes.load()
        matcher = Matcher(indexes, settings=self.settings)
        tuning = self.options.tuning
        workers = self._workers = self.options.workers or max(1, os.cpu_count() or 1)
        batch: list[tuple[Entry, TriageResult]] = []
        try:
            with ProcessPoolExecutor(
                max_workers=workers,
                initializer=_init_worker,
                initargs=(media_limits(),),
                mp_context=_pool_context(),
            ) as pool:
                for entry, result in self._results(pool, walk(self.sources), done, summary):
                    batch.append((entry, result))
                    if len(batch) >= tuning.batch:
                        self._write(batch, case_id, run_id, matcher, summary)
                        batch = []
                if batch:
                    self._write(batch, case_id, run_id, matcher, summary)
                from vangnet.triage.series import cluster

                summary.series = cluster(
                    self.engine,
                    case_id,
                    threshold=tuning.series_bits,
                    min_quality=tuning.series_min_quality,
                )
                from vangnet.triage.tracing import trace_case

                summary.screenshots_traced = trace_case(
                    self.engine,
                    case_id,
                    text_was_read=self.options.ocr,
                    tuning=tuning,
                    settings=self.settings,
                    pool=pool,  # the case's videos are hashed for tracing in the workers
                )
        finally:
            summary.seconds = time.monotonic() - started
            with Session(writer(self.engine)) as session:
                row = session.get_one(TriageRun, run_id)
                row.finished_at = utcnow()
                row.counts = summary.to_dict()
                session.commit()
        return summary

    def _results(
        self,
        pool: ProcessPoolExecutor,
        entries: Iterable[Entry],
        done: set[str],
        summary: Summary,
    ) -> Iterator[tuple[Entry, TriageResult]]:
        """Results in walk order, with at most a few files per worker in flight."""
        window: list[_Pending] = []
        limit = 4 * self._workers  # bounded in-flight work
        for entry in entries:
            summary.files += 1
            if entry.key in done:
                summary.skipped += 1
                forget(entry)
                continue
            done.add(entry.key)
            window.append(self._submit(pool, entry))
            while len(window) >= limit or (window and window[0].future is None):
                yield self._finish(window.pop(0))
        while window:
            yield self._finish(window.pop(0))

    def _submit(self, pool: ProcessPoolExecutor, entry: Entry) -> _Pending:
        if entry.error is not None:
            return _Pending(entry, None, TriageResult.failure(entry.error))
        path = Path(entry.chain[0]) if len(entry.chain) == 1 else None
        try:
            if entry.container is not None:  # streamed: an archive is never read whole
                # (not forgotten: the walk expands it next, and lets it go when done)
                return _Pending(entry, None, _container_result(entry))
            if path is not None and entry.size > self.options.tuning.stream_hash_bytes:
                result = TriageResult(
                    digests=stream_digests(path), note="large file: exact digests only"
                )
                forget(entry)
                return _Pending(entry, None, result)
            data = entry.read()
        except OSError as exc:
            return _Pending(entry, None, TriageResult.failure(f"cannot read: {exc}"))
        future = pool.submit(analyse, data, entry.container, self.options, self.settings)
        forget(entry)
        return _Pending(entry, future)

    def _finish(self, pending: _Pending) -> tuple[Entry, TriageResult]:
        if pending.result is not None:
            return pending.entry, pending.result
        assert pending.future is not None
        wait([pending.future], return_when=FIRST_COMPLETED)
        try:
            return pending.entry, pending.future.result()
        except Exception as exc:  # a worker that died on one file (decoder crash)
            return pending.entry, TriageResult.failure(f"analysis crashed: {exc!r}")

    def _write(
        self,
        batch: list[tuple[Entry, TriageResult]],
        case_id: int,
        run_id: int,
        matcher: Matcher,
        summary: Summary,
    ) -> None:
        with Session(writer(self.engine)) as session:
            matched: list[tuple[Entry, TriageResult]] = []
            for entry, result in batch:
                if result.hashes is not None and result.ok:
                    hashed = result.hashes
                    matched_file = matcher.match_file(
                        session,
                        hashed,
                        variants=result.findings.pdq_dihedral,
                        regions=hashed.regions,
                        picture=hashed.picture,
                    )
                    found = list(matched_file.matches)
                    result = replace(
                        result, hashes=replace(hashed, regions=(), photo_frames=(), picture=None)
                    )
                    if found:
                        result = result.with_matches(found, _series_of(session, found))
                    if matched_file.unverified:  # might have matched: said on the item
                        result = result.with_unverified(matched_file.unverified)
                matched.append((entry, result))
            rows = [
                (result.row(case_id, run_id, entry), result.extra_signals())
                for entry, result in matched
            ]
            try:
                session.add_all([row for row, _ in rows])
                session.flush()  # the items' ids, for their signal rows
                for row, signals in rows:
                    session.add_all(signal_rows(row.id, signals))
                session.commit()
            except IntegrityError:  # another run wrote some of these: keep theirs
                session.rollback()
                self._write_one_by_one(rows)
        for entry, result in matched:
            self._count(entry, result, summary)
            if self.progress is not None:
                self.progress(summary, entry.name)

    def _write_one_by_one(self, rows: list[tuple[TriageItem, dict[str, str]]]) -> None:
        for row, signals in rows:
            with Session(writer(self.engine)) as session:
                try:
                    session.add(row)
                    session.flush()
                    session.add_all(signal_rows(row.id, signals))
                    session.commit()
                except IntegrityError:
                    session.rollback()

    def _count(self, entry: Entry, result: TriageResult, summary: Summary) -> None:
        summary.processed += 1
        kind = result.kind
        summary.by_kind[kind] += 1
        if entry.deleted:
            summary.deleted += 1
        if not result.ok:
            summary.failures.append({"path": " > ".join(entry.chain), "reason": str(result.reason)})
        elif kind in ("photo", "video"):
            if result.matches:
                summary.known[result.category or "uncategorised"] += 1
            else:
                summary.unknown += 1
            signal = result.classifier_signal()
            if signal is not None:
                summary.classified += 1
                summary.likely_new += bool(signal[1] and not result.matches)


def _series_of(session: Session, matches: Sequence[Match]) -> str | None:
    from vangnet.store.models import BankContent

    ids = [m.content_id for m in matches]
    names = {
        s for s in session.scalars(select(BankContent.series).where(BankContent.id.in_(ids))) if s
    }
    return sorted(names)[0] if names else None
