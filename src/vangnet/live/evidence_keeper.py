"""Keeping an alert's frames as evidence, off the processing path: a queue and one thread
that encodes and encrypts them into the vault (`vangnet.evidence.frames.preserve`).

Encoding and encrypting full frames takes tens of milliseconds each and must not hold up the
samples of every other stream, so `EvidenceKeeper.keep` never waits: the queue holds
``live_evidence_queue`` jobs (one alert's frames each); a job that finds it full is not
kept. A job whose preservation fails (the database or the vault refuses) is tried again
``live_evidence_retries`` times, after 0.5 s, then twice as long each time (`preserve`
skips frames already kept and removes the files of a failed try, so a retry stores
nothing twice). Frames not
kept either way are never lost silently: they are counted on their stream
(``evidence_lost``: the API, ``vangnet streams list``, ``/v1/metrics``) and announced by an
``evidence_lost`` event. The alert itself is already durable (its row, matched frames'
PDQ and times), whatever happens to its frames here.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from vangnet.config import Settings
from vangnet.evidence.frames import EvidenceFrame, preserve
from vangnet.live.runtime import StreamRuntime
from vangnet.live.samples import Sample
from vangnet.store.vault import Vault

log = logging.getLogger(__name__)

#: Seconds before the first new try of a job that failed; each next wait doubles.
FIRST_RETRY_SECONDS = 0.5


class Emit(Protocol):
    """Where the keeper announces frames it could not keep (`Monitor.emit`)."""

    def __call__(
        self, runtime: StreamRuntime, event: str, stream_time: float, **data: Any
    ) -> None: ...


@dataclass(frozen=True)
class _Job:
    runtime: StreamRuntime
    metadata: dict[str, Any]
    alert_id: int
    frames: list[EvidenceFrame]


class EvidenceKeeper:
    """Preserves queued frames with ``engine`` (a writer) in the vault of ``settings``
    (its key is loaded on first use). ``emit`` receives an ``evidence_lost`` event for
    frames that could not be kept. ``queue_size`` (jobs) and ``retry_delays`` (seconds
    before each new try) default to ``live_evidence_queue`` and ``live_evidence_retries``
    of ``settings`` (see the module)."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings,
        emit: Emit | None = None,
        queue_size: int | None = None,
        retry_delays: Sequence[float] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.emit = emit
        self.retry_delays = (
            tuple(FIRST_RETRY_SECONDS * 2**i for i in range(settings.live_evidence_retries))
            if retry_delays is None
            else tuple(retry_delays)
        )
        self._vault: Vault | None = None
        #: Jobs for the evidence thread; None stops it.
        self._jobs: queue.Queue[_Job | None] = queue.Queue(
            maxsize=settings.live_evidence_queue if queue_size is None else queue_size
        )
        self._count_lock = threading.Lock()  # the processor and this thread both count
        self._thread: threading.Thread | None = None
        self._closed = False
        self._gate = threading.Lock()  # no job is queued behind the stop marker

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vangnet-evidence", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Preserve what is queued, then stop; jobs still queued after a minute are counted
        as lost, as are frames handed to `keep` afterwards."""
        with self._gate:
            self._closed = True
        if self._thread is not None:
            with contextlib.suppress(queue.Full):  # stuck: what is left is counted below
                self._jobs.put(None, timeout=60)
            self._thread.join(timeout=60)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self._lost(job, "not preserved before the monitor stopped")
                self._pending(job.runtime, -1)

    def keep(
        self, runtime: StreamRuntime, alert_id: int, samples: list[Sample], matched: set[float]
    ) -> None:
        """Queue ``samples`` (those that can be kept) to be preserved for alert ``alert_id``;
        ``matched`` are the stream times of the samples that matched. Never waits: with the
        queue full, the frames are counted and announced as lost."""
        frames = [
            EvidenceFrame(
                stream_time=s.stream_time,
                captured_at=datetime.fromtimestamp(s.received_at, UTC),
                media_type=s.media_type,
                encode=s.evidence,
                matched=s.stream_time in matched,
                pdq=s.pdq,
                signals=dict(s.signals),
            )
            for s in samples
            if s.evidence is not None
        ]
        if not frames:
            return
        job = _Job(runtime, dict(runtime.metadata), alert_id, frames)
        with self._gate:
            if self._closed:
                reason = "the monitor has stopped"
            else:
                self._pending(runtime, +1)  # before the evidence thread can finish it
                try:
                    self._jobs.put_nowait(job)
                    return
                except queue.Full:
                    self._pending(runtime, -1)
                    reason = f"evidence queue full ({self._jobs.maxsize} alerts waiting)"
        self._lost(job, reason)

    def _pending(self, runtime: StreamRuntime, change: int) -> None:
        with self._count_lock:
            runtime.evidence_pending += change

    def _lost(self, job: _Job, reason: str) -> None:
        """Count and announce the frames of ``job`` that were not kept."""
        runtime = job.runtime
        with self._count_lock:
            runtime.evidence_lost += len(job.frames)
            runtime.dirty = True  # saved by the monitor's flusher within a second
        log.error(
            "%d frames of alert %d (stream %d) not kept as evidence: %s",
            len(job.frames),
            job.alert_id,
            runtime.id,
            reason,
        )
        if self.emit is not None:
            self.emit(
                runtime,
                "evidence_lost",
                max(f.stream_time for f in job.frames),
                alert_id=job.alert_id,
                frames=len(job.frames),
                stream_times=[round(f.stream_time, 3) for f in job.frames],
                reason=reason,
            )

    def _preserve(self, job: _Job) -> None:
        if self._vault is None:
            self._vault = Vault.from_settings(self.settings)
        preserve(
            self.engine,
            self._vault,
            alert_id=job.alert_id,
            stream_id=job.runtime.id,
            metadata=job.metadata,
            frames=job.frames,
            settings=self.settings,
        )

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._attempts(job)
            finally:
                self._pending(job.runtime, -1)  # kept, or counted as lost

    def _attempts(self, job: _Job) -> None:
        """Preserve ``job``, trying again after each failure; count it lost after the last."""
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            try:
                self._preserve(job)
                return
            except Exception as exc:
                if delay is None:
                    log.exception("could not preserve evidence for alert %d", job.alert_id)
                    self._lost(
                        job,
                        f"could not be preserved ({type(exc).__name__}) after {attempt} attempts",
                    )
                    return
                log.warning(
                    "could not preserve evidence for alert %d (attempt %d: %s); "
                    "trying again in %g s",
                    job.alert_id,
                    attempt,
                    exc,
                    delay,
                )
                time.sleep(delay)
