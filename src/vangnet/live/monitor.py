"""The live-stream monitor: many streams, one processing stage, durable alerts.

    source ─► decode ─► Sampler ─► Sample queue ─► Processor: PDQ ─► batched index lookup
           ─► DecisionWindow (per bank rule) ─► alert row + outbox (one transaction)
           ─► events, webhooks (Deliverer), evidence (vault)

Every stream, pulled (`StreamSession`, one thread each) or pushed (frames or hashes posted
through the API), feeds the same `Processor`. A stream's queue holds at most
``live_queue_samples``; when the processor falls behind, the oldest waiting sample is dropped
and counted, so a stream never lags live. Stream rows carry state, counters and a lease:
`Monitor.resume` (a worker restart, or ``vangnet worker``) takes over streams whose lease
has run out, and alerts already written are extended, never repeated.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from vangnet.actions.webhooks import Deliverer
from vangnet.config import Settings
from vangnet.egress.policy import EgressPolicy
from vangnet.errors import ConflictError, NotFoundError
from vangnet.live import alerts as alert_service
from vangnet.live.classifiers import FrameClassifier, classify, installed_classifiers
from vangnet.live.decision import Decision, DecisionWindow, Rule, default_rule, rule_for
from vangnet.live.evidence import EvidenceFrame, preserve
from vangnet.live.journal import AlertJournal, PendingAlert, new_key
from vangnet.live.quotas import over_quota
from vangnet.live.sampler import Sampler
from vangnet.live.samples import Sample, frame_sample
from vangnet.live.sources import (
    StreamEnded,
    StreamRejected,
    StreamStalled,
    StreamUnavailable,
    source_for,
)
from vangnet.live.states import StreamState
from vangnet.live.streams import create_stream
from vangnet.match.indexes import SignalIndexes
from vangnet.match.results import Match
from vangnet.match.service import Matcher, bank_rules
from vangnet.net import display_url
from vangnet.signals.base import ImageHasher
from vangnet.signals.pdq import PdqSignal, dihedral_hashes, hash_pixels
from vangnet.signals.registry import signal_types
from vangnet.store.db import bounded_writer, writer
from vangnet.store.models import Stream, utcnow
from vangnet.store.vault import Vault

log = logging.getLogger(__name__)

#: Evidence jobs (one alert's frames each) waiting to be encrypted; beyond, logged and skipped.
EVIDENCE_QUEUE = 256

Event = dict[str, Any]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


@dataclass
class StreamRuntime:
    """What the monitor holds in memory for one stream."""

    id: int
    kind: str
    url: str | None
    external_id: str | None
    metadata: dict[str, Any]
    fps: float
    window: DecisionWindow
    state: StreamState = StreamState.CONNECTING
    reason: str | None = None
    samples: int = 0
    matches: int = 0
    dropped: int = 0
    alerts: int = 0
    stream_time: float = 0.0
    queue: deque[Sample] = field(default_factory=deque)
    recent: deque[Sample] = field(default_factory=deque)
    after: dict[int, int] = field(default_factory=dict)  # alert id -> samples still to keep
    alert_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    sample_times: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    dirty: bool = True
    stop: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None  # why ``stop`` was set: the reason the stream ends with
    handing_over: bool = False  # stopping only to let another worker take over
    keyframes_only: bool = False  # decoding only key frames (the sample rate allows it)
    #: Earliest wall time at which stream time 0 could have been received (min over samples
    #: of received_at - stream_time): "behind live" is measured from it.
    origin: float | None = None
    behind: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    cpu: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("decode", "sample", "hash", "lookup", "decide"), 0.0)
    )
    finished_at: float | None = None
    #: How far behind live the last sample was processed (seconds; None before the first).
    behind_now: float | None = None
    #: Flagged (event ``falling_behind``) while more than ``live_behind_limit_seconds`` behind.
    falling_behind: bool = False
    #: Input loss seen in the decoded stream: seconds missing between frames (gaps in the
    #: stream's own timestamps, e.g. a socket overrun), how many such gaps, corrupt frames.
    lost_seconds: float = 0.0
    discontinuities: int = 0
    corrupt_frames: int = 0
    #: Alert writes of this stream waiting to be retried (they are in the on-disk journal).
    alerts_pending: int = 0

    def status(self) -> dict[str, Any]:
        now = time.time()
        recent = [t for t in self.sample_times if now - t <= 10]
        lat = sorted(self.latencies)
        return {
            "id": self.id,
            "kind": self.kind,
            "url": display_url(self.url),
            "external_id": self.external_id,
            "metadata": self.metadata,
            "state": self.state.value,
            "reason": self.reason,
            "samples": self.samples,
            "matches": self.matches,
            "dropped": self.dropped,
            "alerts": self.alerts,
            "stream_time": round(self.stream_time, 3),
            "sampled_fps": round(len(recent) / 10, 2),
            "latency_p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
            "behind_live_p95_ms": _p95_ms(self.behind),
            "behind_live_s": None if self.behind_now is None else round(self.behind_now, 3),
            "falling_behind": self.falling_behind,
            "input_lost_seconds": round(self.lost_seconds, 3),
            "input_discontinuities": self.discontinuities,
            "corrupt_frames": self.corrupt_frames,
            "alerts_pending": self.alerts_pending,
            "keyframes_only": self.keyframes_only,
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu.items()},
        }


def _p95_ms(values: deque[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1)


class KeyframeGaps:
    """Watches the gaps between key frames: when every recent gap is at most one sample
    interval, decoding only key frames still gives the base rate (and costs a fraction)."""

    def __init__(self, interval: float) -> None:
        self.limit = interval * 1.05 + 1 / 120
        self.last: float | None = None
        self.gaps: deque[float] = deque(maxlen=4)

    def key_frame(self, stream_time: float) -> bool:
        """Record a key frame; True while key frames alone are dense enough."""
        if self.last is not None and stream_time > self.last:
            self.gaps.append(stream_time - self.last)
        self.last = stream_time
        return len(self.gaps) >= 2 and max(self.gaps) <= self.limit


class InputLoss:
    """Gaps in a stream's own timestamps: frames that never reached the decoder (a socket
    or FFmpeg buffer overrun, packets lost on the way). A gap counts when it is longer than
    `GAP_FACTOR` times the usual interval between decoded frames (the median of the last
    few) and at least `MIN_GAP` seconds; the seconds beyond one usual interval count as lost.
    Decoding only key frames (or going back) starts afresh; while only key frames are
    decoded, frames the decoder still held from before (not key frames) are left out."""

    GAP_FACTOR = 2.5
    MIN_GAP = 0.5
    RECENT = 9
    JUDGE_AFTER = 3  # gaps seen before one is judged
    #: Shorter gaps are no frame interval (a looping or restarted sender can put several
    #: key frames at almost the same time): not counted in the usual interval.
    MIN_INTERVAL = 0.01

    def __init__(self) -> None:
        self.last: float | None = None
        self.gaps: deque[float] = deque(maxlen=self.RECENT)
        self.skipping = False

    def frame(
        self, runtime: StreamRuntime, stream_time: float, *, skipping: bool, key_frame: bool
    ) -> None:
        if skipping != self.skipping:  # key frames only (or back): other intervals
            self.skipping, self.last = skipping, None
            self.gaps.clear()
        if skipping and not key_frame:
            return
        last, self.last = self.last, stream_time
        if last is None or stream_time <= last:
            return
        gap = stream_time - last
        if gap < self.MIN_INTERVAL:
            return
        if len(self.gaps) >= self.JUDGE_AFTER:
            usual = sorted(self.gaps)[len(self.gaps) // 2]
            if gap > max(self.MIN_GAP, self.GAP_FACTOR * usual):
                runtime.lost_seconds += gap - usual
                runtime.discontinuities += 1
        self.gaps.append(gap)


class Processor:
    """The shared stage: hash queued samples, look them up in one batch, decide, alert."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def submit(self, runtime: StreamRuntime, sample: Sample) -> None:
        with self._cond:
            runtime.queue.append(sample)
            while len(runtime.queue) > self.monitor.settings.live_queue_samples:
                runtime.queue.popleft()  # the oldest: keep up with live
                runtime.dropped += 1
            runtime.dirty = True
            self._cond.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vangnet-processor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _take(self) -> list[tuple[StreamRuntime, Sample]]:
        with self._cond:
            while not self._stopping:
                batch = [
                    (rt, rt.queue.popleft())
                    for rt in list(self.monitor.runtimes.values())
                    for _ in range(len(rt.queue))
                ]
                if batch:
                    return batch
                self._cond.wait(timeout=0.5)
        return []

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            try:
                self.process(batch)
            except Exception:  # one bad batch must not stop every stream
                log.exception("live processing failed for a batch of %d samples", len(batch))

    def process(self, batch: list[tuple[StreamRuntime, Sample]]) -> None:
        monitor = self.monitor
        indexes = monitor.indexes
        banks = {n: b for n, b in indexes.banks.items() if b.enabled}
        dihedral = any(bank_rules(b, "pdq", monitor.settings).dihedral for b in banks.values())
        values, qualities, variants = [], [], []
        started = time.thread_time()
        for _, sample in batch:
            if sample.pdq is None and sample.pixels is not None:
                if dihedral:
                    hashes, quality = dihedral_hashes(sample.pixels)
                    sample.pdq, sample.quality = hashes[0], quality
                    variants.append(hashes[1:])
                else:
                    sample.pdq, sample.quality = hash_pixels(sample.pixels)
                    variants.append([])
            else:
                variants.append([])
            values.append(sample.pdq or "0" * 64)
            qualities.append(sample.quality)
        if monitor.classifiers:
            for _, sample in batch:
                if sample.pixels is not None:
                    sample.scores = classify(sample.pixels, monitor.classifiers)
        hashed = time.thread_time()
        with Session(monitor.read_engine) as session:  # a read: no write lock, ever
            found = monitor.matcher.lookup_many(
                session,
                signal_type=PdqSignal.name,
                values=values,
                qualities=qualities,
                variants=variants,
            )
            self._other_image_signals(session, batch, found)
        looked_up = time.thread_time()
        share = 1.0 / len(batch)  # the batch's CPU time, split evenly over its samples
        for runtime, _ in batch:
            runtime.cpu["hash"] += (hashed - started) * share
            runtime.cpu["lookup"] += (looked_up - hashed) * share
        defaults = {c: default_rule(monitor.settings, high_confidence=c) for c in (False, True)}
        rules = {
            n: rule_for(b.policy, default=defaults[b.high_confidence]) for n, b in banks.items()
        }
        for (runtime, sample), matches in zip(batch, found, strict=True):
            self._after_lookup(runtime, sample, matches, rules)

    def _other_image_signals(
        self,
        session: Session,
        batch: list[tuple[StreamRuntime, Sample]],
        found: list[list[Match]],
    ) -> None:
        """Every other installed picture hasher (a plug-in's perceptual hash or embedding)
        whose index holds values: hash the decoded samples and add its matches. A plug-in
        that fails is logged and skipped; PDQ matching goes on."""
        indexes = self.monitor.indexes
        for name, cls in signal_types().items():
            if name == PdqSignal.name or not issubclass(cls, ImageHasher):
                continue
            index = indexes.indexes.get(name)
            if index is None or not len(index) or name in indexes.failed:
                continue
            pictures = [(i, s.pixels) for i, (_, s) in enumerate(batch) if s.pixels is not None]
            if not pictures:
                return
            try:
                values = [cls.hash_picture(Image.fromarray(px))[0] for _, px in pictures]
                more = self.monitor.matcher.lookup_many(session, signal_type=name, values=values)
            except Exception:
                log.exception("live matching on signal type %s failed; skipped", name)
                continue
            for (i, _), matches in zip(pictures, more, strict=True):
                if matches:
                    seen = {(m.bank, m.content_id) for m in found[i]}
                    found[i].extend(m for m in matches if (m.bank, m.content_id) not in seen)

    def _after_lookup(
        self, runtime: StreamRuntime, sample: Sample, matches: list[Any], rules: dict[str, Rule]
    ) -> None:
        monitor = self.monitor
        decide = time.thread_time()
        runtime.window.rules = rules
        runtime.samples += 1
        origin = sample.received_at - sample.stream_time
        if runtime.origin is None or origin < runtime.origin:
            runtime.origin = origin
        runtime.stream_time = max(runtime.stream_time, sample.stream_time)
        runtime.sample_times.append(time.time())
        runtime.recent.append(sample)
        depth = max(
            [monitor.settings.live_evidence_before + 1, *(r.window for r in rules.values())]
        )
        while len(runtime.recent) > depth:
            runtime.recent.popleft()
        if matches:
            runtime.matches += 1
        for m in matches:
            monitor.emit(
                runtime,
                "match",
                sample.stream_time,
                bank=m.bank,
                content_id=m.content_id,
                distance=m.distance,
                category=m.category,
                reason=sample.reason.value,
                **({"scores": sample.scores} if sample.scores else {}),
            )
        self._keep_after(runtime, sample, {(m.bank, m.content_id) for m in matches})
        for decision in runtime.window.add(sample.stream_time, matches):
            self._alert(runtime, sample, decision)
        done = time.time()
        runtime.latencies.append(done - sample.received_at)
        behind = done - (runtime.origin + sample.stream_time)
        runtime.behind.append(behind)
        self._check_behind(runtime, sample, behind)
        runtime.cpu["decide"] += time.thread_time() - decide
        runtime.dirty = True

    def _check_behind(self, runtime: StreamRuntime, sample: Sample, behind: float) -> None:
        """Flag a stream that cannot keep up with live (and clear the flag once it has)."""
        runtime.behind_now = behind
        limit = self.monitor.settings.live_behind_limit_seconds
        if not runtime.falling_behind and behind > limit:
            runtime.falling_behind = True
            log.warning("stream %d is %.1f s behind live: add capacity", runtime.id, behind)
            self.monitor.emit(
                runtime,
                "falling_behind",
                sample.stream_time,
                behind_live_s=round(behind, 3),
                limit_s=limit,
                input_lost_seconds=round(runtime.lost_seconds, 3),
                dropped=runtime.dropped,
                reason=f"processed {behind:.1f} s behind live (limit {limit:g} s): "
                "this worker cannot keep up; add capacity or lower the sample rate",
            )
            self.monitor.persist_soon(runtime)
        elif runtime.falling_behind and behind < limit / 2:
            runtime.falling_behind = False
            self.monitor.emit(
                runtime, "caught_up", sample.stream_time, behind_live_s=round(behind, 3)
            )
            self.monitor.persist_soon(runtime)

    def _alert(self, runtime: StreamRuntime, sample: Sample, decision: Decision) -> None:
        monitor = self.monitor
        by_time = {s.stream_time: s for s in runtime.recent}
        bank = monitor.indexes.banks.get(decision.bank)
        actions = list(bank.policy.get("actions", [])) if bank else []
        entry = PendingAlert(
            key=new_key(),
            stream_id=runtime.id,
            decision=decision,
            pdq_by_time={
                t: (s.pdq or "0" * 64, s.quality or 0)
                for t, s in by_time.items()
                if s.pdq is not None
            },
            captured_at={t: datetime.fromtimestamp(s.received_at, UTC) for t, s in by_time.items()},
            actions=actions,
            scores=sample.scores or None,
        )
        before = list(runtime.recent)[-(monitor.settings.live_evidence_before + 1) :]
        monitor.write_alert(entry, AlertContext(runtime, sample.stream_time, by_time, before))

    def _keep_after(
        self, runtime: StreamRuntime, sample: Sample, matched: set[tuple[str, int]]
    ) -> None:
        """The samples after an alert, kept as its evidence (``live_evidence_after``)."""
        with self.monitor.alerts_lock:
            self._keep_after_locked(runtime, sample, matched)

    def _keep_after_locked(
        self, runtime: StreamRuntime, sample: Sample, matched: set[tuple[str, int]]
    ) -> None:
        for alert_id, remaining in list(runtime.after.items()):
            if remaining <= 0:
                del runtime.after[alert_id]
                continue
            key = next((k for k, v in runtime.alert_ids.items() if v == alert_id), None)
            was_match = {sample.stream_time} if key in matched else set()
            self.monitor.keep_evidence(runtime, alert_id, [sample], was_match)
            runtime.after[alert_id] = remaining - 1


@dataclass
class AlertContext:
    """What the monitor keeps in memory about an alert decision until its row is written:
    the stream and the samples around the decision (its evidence)."""

    runtime: StreamRuntime
    stream_time: float
    by_time: dict[float, Sample]
    before: list[Sample]


@dataclass
class RetryItem:
    entry: PendingAlert
    context: AlertContext | None  # None: replayed from a journal a stopped process left
    attempts: int = 0
    next_at: float = 0.0


def completed_at(decision: Decision, by_time: dict[float, Sample]) -> float:
    """Wall time at which the sample that completed the decision was received."""
    last = decision.samples[-1].stream_time
    sample = by_time.get(last)
    return sample.received_at if sample is not None else time.time()


class StreamSession:
    """Pulls one stream in its own thread: connect, decode, sample, reconnect with backoff."""

    def __init__(self, monitor: Monitor, runtime: StreamRuntime, offset: float = 0.0) -> None:
        self.monitor = monitor
        self.runtime = runtime
        self.offset = offset
        self.thread = threading.Thread(
            target=self._run, name=f"vangnet-stream-{runtime.id}", daemon=True
        )

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopped."""
        return self.runtime.stop.wait(seconds)

    def _run(self) -> None:
        monitor, runtime, settings = self.monitor, self.runtime, self.monitor.settings
        assert runtime.url is not None
        sampler = Sampler(runtime.fps, settings.live_scene_change, settings.live_max_extra_fps)
        failures = 0
        last_error = ""
        while not runtime.stop.is_set():
            if failures == 0:
                monitor.set_state(runtime, StreamState.CONNECTING)
            else:  # with the error that broke the last connection
                monitor.set_state(runtime, StreamState.RECONNECTING, last_error)
            source = source_for(
                runtime.url,
                connect_timeout=settings.live_connect_timeout,
                stall_timeout=settings.live_stall_seconds,
                egress=EgressPolicy.from_settings(settings),  # checked again on each connect
                max_pixels=settings.live_max_pixels,
                rtsp_transport=settings.live_rtsp_transport,
            )
            base = self.offset
            last_wall = time.time()
            gaps = KeyframeGaps(1.0 / runtime.fps)
            loss = InputLoss()
            cpu = time.thread_time()
            try:
                for item in source.frames():
                    decoded = time.thread_time()
                    runtime.cpu["decode"] += decoded - cpu
                    if settings.live_throttle_seconds:  # a slower machine, on purpose
                        time.sleep(settings.live_throttle_seconds)
                    loss.frame(
                        runtime,
                        item.stream_time,
                        skipping=source.keyframes_only,
                        key_frame=item.key_frame,
                    )
                    if item.corrupt:
                        runtime.corrupt_frames += 1
                    if runtime.state is not StreamState.LIVE:
                        monitor.set_state(runtime, StreamState.LIVE)
                        failures = 0
                    now = time.time()
                    last_wall = now
                    stream_time = base + item.stream_time
                    self.offset = stream_time
                    if item.key_frame and settings.live_keyframes_only:
                        source.keyframes_only = gaps.key_frame(stream_time)
                        runtime.keyframes_only = source.keyframes_only
                    reason = sampler.offer(stream_time, item.frame)
                    if reason is not None:
                        sample = frame_sample(runtime.id, stream_time, now, reason, item.frame)
                        monitor.processor.submit(runtime, sample)
                    cpu = time.thread_time()
                    runtime.cpu["sample"] += cpu - decoded
                    if runtime.stop.is_set():
                        source.close()
                        break
            except StreamEnded:
                monitor.set_state(runtime, StreamState.ENDED, "the stream ended")
                return
            except StreamRejected as error:
                monitor.set_state(runtime, StreamState.FAILED, error.message)
                return
            except StreamStalled as error:
                last_error = error.message
                monitor.set_state(runtime, StreamState.STALLED, error.message)
            except StreamUnavailable as error:
                last_error = error.message
            except Exception as error:  # a decoder bug must fail this stream only
                log.exception("stream %d failed", runtime.id)
                monitor.set_state(runtime, StreamState.FAILED, f"internal error: {error}")
                return
            if runtime.stop.is_set():
                break
            failures += 1
            if failures > settings.live_reconnect_attempts:
                monitor.set_state(
                    runtime,
                    StreamState.FAILED,
                    f"gave up after {failures - 1} reconnection attempts: {last_error}",
                )
                return
            backoff = min(settings.live_reconnect_max_seconds, 0.5 * 2 ** (failures - 1))
            self.offset += time.time() - last_wall  # stream time keeps running while away
            if self._wait(backoff):
                break
        if not runtime.handing_over:
            monitor.set_state(runtime, StreamState.ENDED, runtime.stop_reason or "stopped")


class Monitor:
    """Runs streams in this process. ``on_event`` receives every state change, match and
    alert as a JSON-ready dict."""

    def __init__(
        self,
        engine: Engine,
        *,
        indexes: SignalIndexes | None = None,
        on_event: Callable[[Event], None] | None = None,
        settings: Settings,
        worker: str | None = None,
        deliver_webhooks: bool = True,
        keep_finished_seconds: float | None = 600.0,
        classifiers: tuple[FrameClassifier, ...] | None = None,
    ) -> None:
        self.engine = writer(engine)
        #: Lookups and other reads: plain transactions, which never take the write lock.
        self.read_engine = engine
        self.settings = settings
        #: Alert writes wait briefly for a lock, then go to the retry queue (journaled).
        self._alert_engine = bounded_writer(engine, self.settings.live_alert_wait_seconds)
        self._journal: AlertJournal | None = None
        self._retry: dict[str, RetryItem] = {}
        self._retry_wake = threading.Event()
        self._retry_thread: threading.Thread | None = None
        #: Guards per-stream alert bookkeeping (the processor and the retry thread).
        self.alerts_lock = threading.RLock()
        self._own_indexes = indexes is None
        self.indexes = indexes or SignalIndexes(engine, snapshot_dir=self.settings.snapshot_dir)
        self.matcher = Matcher(self.indexes, settings=self.settings)
        self.on_event = on_event
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.runtimes: dict[int, StreamRuntime] = {}
        self.sessions: dict[int, StreamSession] = {}
        self.processor = Processor(self)
        self._lock = threading.Lock()
        self._events_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._vault: Vault | None = None
        #: (stream id, metadata, alert id, frames) for the evidence thread; None stops it.
        self._evidence: queue.Queue[tuple[int, dict[str, Any], int, list[EvidenceFrame]] | None] = (
            queue.Queue(maxsize=EVIDENCE_QUEUE)
        )
        self._evidence_thread: threading.Thread | None = None
        self._deliverer: Deliverer | None = None
        self._deliver = deliver_webhooks
        #: How long an ended or failed stream stays in `runtimes` (None: until close).
        self.keep_finished_seconds = keep_finished_seconds
        #: Frame classifiers run on every sample with pixels (default: the installed ones).
        self.classifiers = installed_classifiers() if classifiers is None else classifiers

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> Monitor:
        if self._own_indexes:
            self.indexes.load()
            self.indexes.start(
                poll_seconds=self.settings.index_poll_seconds,
                snapshot_seconds=self.settings.index_snapshot_seconds,
            )
        for entry in self.journal.adopt():  # alerts a stopped process had not written
            self._retry[entry.key] = RetryItem(entry, None)
        self._retry_thread = threading.Thread(
            target=self._retry_loop, name="vangnet-alert-retry", daemon=True
        )
        self._retry_thread.start()
        self.processor.start()
        if self._deliver:
            self._deliverer = Deliverer(self.engine, settings=self.settings)
            self._deliverer.start(poll_seconds=0.2)
        self._flusher = threading.Thread(target=self._flush_loop, name="vangnet-flush", daemon=True)
        self._flusher.start()
        self._evidence_thread = threading.Thread(
            target=self._evidence_loop, name="vangnet-evidence", daemon=True
        )
        self._evidence_thread.start()
        return self

    def close(self, *, end_streams: bool = False, reason: str = "stopped") -> None:
        """Stop this monitor. ``end_streams`` marks its streams ended (an operator stopping
        ``watch``); otherwise they stay wanted, and a restarted worker resumes them."""
        for runtime in list(self.runtimes.values()):
            if end_streams:
                runtime.stop_reason = runtime.stop_reason or reason
            else:
                runtime.handing_over = True
            runtime.stop.set()
        for puller in list(self.sessions.values()):
            puller.thread.join(timeout=self.settings.live_connect_timeout + 5)
        self.processor.stop()
        if self._evidence_thread is not None:  # preserve what is queued, then stop
            self._evidence.put(None)
            self._evidence_thread.join(timeout=60)
        self._stop.set()
        self._retry_wake.set()
        if self._retry_thread is not None:
            self._retry_thread.join(timeout=self.settings.live_alert_wait_seconds + 5)
        if self._retry_thread is None or not self._retry_thread.is_alive():
            self._retry_pending(final=True)  # one last try; what fails stays journaled
        if self._journal is not None:
            self._journal.close()  # kept on disk while entries are pending
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        with Session(self.engine) as session:
            for runtime in self.runtimes.values():
                row = session.get(Stream, runtime.id)
                if row is None:
                    continue
                self._copy(runtime, row)
                if end_streams:
                    row.desired = "stop"
                    if row.state not in ("ended", "failed"):
                        row.state, row.state_reason = "ended", reason
                        row.ended_at = utcnow()
                row.worker, row.lease_until = None, None
            session.commit()
        if self._deliverer is not None:
            self._deliverer.stop()
        if self._own_indexes:
            self.indexes.stop()

    # -- streams ---------------------------------------------------------------------------
    def _new_runtime(self, row: Stream) -> StreamRuntime:
        window = DecisionWindow(rules={})
        runtime = StreamRuntime(
            id=row.id,
            kind=row.kind,
            url=row.url,
            external_id=row.external_id,
            metadata=dict(row.stream_metadata or {}),
            fps=row.sample_fps,
            window=window,
            samples=row.samples,
            matches=row.matches,
            dropped=row.dropped,
            alerts=row.alerts,
            stream_time=row.stream_time,
        )
        with Session(self.engine) as session:
            for alert in alert_service.list_alerts(session, stream_id=row.id, limit=10_000):
                runtime.alert_ids[(alert.bank, alert.bank_content_id)] = alert.id
        window.mark_decided(runtime.alert_ids)
        return runtime

    def add_stream(
        self,
        url: str | None,
        *,
        external_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        fps: float | None = None,
        allow_files: bool = True,
        api_key_id: int | None = None,
    ) -> int:
        """Create a stream (pull when ``url`` is given, push otherwise) and run it here;
        one started with an API key counts against the key's stream quota."""
        with Session(self.engine) as session:
            row = create_stream(
                session,
                url=url,
                settings=self.settings,
                external_id=external_id,
                metadata=metadata,
                fps=fps,
                allow_files=allow_files,
                egress=EgressPolicy.from_settings(self.settings),
                api_key_id=api_key_id,
                max_streams=self.settings.key_max_streams,
            )
            row.worker = self.worker
            row.lease_until = utcnow() + timedelta(seconds=self.settings.live_lease_seconds)
            session.commit()
            session.refresh(row)
            session.expunge(row)
        self._run(row)  # after the session closed: it opens its own
        return row.id

    def _run(self, row: Stream) -> None:
        runtime = self._new_runtime(row)
        with self._lock:
            self.runtimes[row.id] = runtime
        if row.kind == "pull":
            puller = StreamSession(self, runtime, offset=row.stream_time)
            self.sessions[row.id] = puller
            puller.thread.start()
        else:
            self.set_state(runtime, StreamState.LIVE)

    def resume(self) -> list[int]:
        """Take over wanted streams that no live worker holds (lease expired or none)."""
        now = utcnow()
        taken = []
        with Session(self.engine) as session:
            rows = session.scalars(
                select(Stream).where(
                    Stream.desired == "run",
                    Stream.state.not_in(["ended", "failed"]),
                    or_(Stream.lease_until.is_(None), Stream.lease_until < now),
                )
            ).all()
            rows = sorted((r for r in rows if r.id not in self.runtimes), key=lambda r: r.id)
            for row in over_quota(session, rows, self.settings.key_max_streams):
                row.desired, row.state, row.ended_at = "stop", "failed", now
                row.state_reason = (
                    "not resumed: its API key has more active streams than its quota "
                    "(VANGNET_KEY_MAX_STREAMS)"
                )
            for row in rows:
                if row.state == "failed":
                    continue
                row.worker = self.worker
                row.lease_until = now + timedelta(seconds=self.settings.live_lease_seconds)
                taken.append(row)
            session.commit()
            for row in taken:
                session.refresh(row)
                session.expunge(row)
        for row in taken:
            self._run(row)
        return [r.id for r in taken]

    def stop_stream(self, stream_id: int, reason: str = "stopped by request") -> None:
        runtime = self.runtimes.get(stream_id)
        if runtime is None:
            raise NotFoundError(f"stream {stream_id} is not running here")
        runtime.stop_reason = reason
        runtime.stop.set()
        if runtime.kind == "push":
            self.set_state(runtime, StreamState.ENDED, reason)

    def runtime(self, stream_id: int) -> StreamRuntime:
        runtime = self.runtimes.get(stream_id)
        if runtime is None:
            raise NotFoundError(f"stream {stream_id} is not running here")
        return runtime

    def push_sample(self, stream_id: int, sample: Sample) -> None:
        """A frame or hash posted by a platform (push mode)."""
        runtime = self.runtime(stream_id)
        if runtime.kind != "push":
            raise ConflictError(f"stream {stream_id} is pulled from a URL, not pushed")
        if runtime.state is not StreamState.LIVE:
            raise ConflictError(f"stream {stream_id} is {runtime.state.value}")
        self.processor.submit(runtime, sample)

    def status(self) -> list[dict[str, Any]]:
        return [rt.status() for rt in list(self.runtimes.values())]

    # -- alerts: journal first, then the database (retried until written) -----------------
    @property
    def journal(self) -> AlertJournal:
        if self._journal is None:
            self._journal = AlertJournal(self.settings.home)
        return self._journal

    @property
    def alerts_pending(self) -> int:
        """Alert writes waiting for the database (each is in the on-disk journal)."""
        return len(self._retry)

    def write_alert(self, entry: PendingAlert, context: AlertContext | None) -> None:
        """Write the alert of ``entry``: journaled (fsync) first, then written; a write that
        fails (database locked or unreachable) is retried with backoff until it lands."""
        self.journal.add(entry)
        # While earlier writes wait for the database, queue this one behind them at once:
        # the processor does not wait for a lock per alert while the database is busy.
        recorded = None if self._retry else self._try_write(entry)
        if recorded is None:
            with self.alerts_lock:
                self._retry[entry.key] = RetryItem(entry, context, attempts=1)
                self._retry[entry.key].next_at = time.monotonic() + 0.2
                if context is not None:
                    context.runtime.alerts_pending += 1
                    context.runtime.dirty = True
            self._retry_wake.set()
            return
        self._written(entry, context, recorded)

    def _try_write(self, entry: PendingAlert) -> alert_service.Recorded | None:
        try:
            with Session(self._alert_engine) as session:
                recorded = alert_service.record(
                    session,
                    stream_id=entry.stream_id,
                    decision=entry.decision,
                    pdq_by_time=entry.pdq_by_time,
                    captured_at=entry.captured_at,
                    actions=entry.actions,
                    scores=entry.scores,
                    settings=self.settings,
                )
                session.commit()
        except SQLAlchemyError as error:
            log.warning(
                "alert of stream %d (%s item %d) not written yet, will retry: %s",
                entry.stream_id,
                entry.decision.bank,
                entry.decision.content_id,
                type(error.orig if isinstance(error, DBAPIError) else error).__name__,
            )
            return None
        self.journal.done(entry.key)
        return recorded

    def _retry_pending(self, *, final: bool = False) -> None:
        now = time.monotonic()
        for key, item in list(self._retry.items()):
            if item.next_at > now and not final:
                continue
            recorded = self._try_write(item.entry)
            if recorded is None:
                if final:  # still busy: the rest stay journaled for the next process
                    return
                item.attempts += 1
                delay = min(self.settings.live_alert_retry_max_seconds, 0.2 * 2**item.attempts)
                item.next_at = time.monotonic() + delay
                if item.attempts % 10 == 0:
                    log.error("alert write still failing after %d attempts", item.attempts)
                continue
            with self.alerts_lock:
                self._retry.pop(key, None)
                if item.context is not None:
                    item.context.runtime.alerts_pending -= 1
            self._written(item.entry, item.context, recorded)

    def _retry_loop(self) -> None:
        while not self._stop.is_set():
            self._retry_wake.wait(timeout=0.1)
            self._retry_wake.clear()
            if self._stop.is_set():
                return
            try:
                self._retry_pending()
            except Exception:  # keep retrying; the entries stay journaled
                log.exception("alert retry failed")

    def _written(
        self,
        entry: PendingAlert,
        context: AlertContext | None,
        recorded: alert_service.Recorded,
    ) -> None:
        """After the alert row is committed: events, webhooks, evidence."""
        decision = entry.decision
        key = (decision.bank, decision.content_id)
        if context is None:  # replayed after a restart: no frames in memory any more
            self.wake_deliverer()
            runtime = self.runtimes.get(entry.stream_id)
            if runtime is not None:
                with self.alerts_lock:
                    runtime.alert_ids[key] = recorded.alert_id
                    runtime.window.mark_decided([key])
            log.warning("alert %d written from the journal", recorded.alert_id)
            return
        runtime, by_time = context.runtime, context.by_time
        with self.alerts_lock:
            runtime.alert_ids[key] = recorded.alert_id
            if recorded.created:
                runtime.alerts += 1
                self.wake_deliverer()
                first = decision.samples[0]
                self.emit(
                    runtime,
                    "alert",
                    context.stream_time,
                    alert_id=recorded.alert_id,
                    bank=decision.bank,
                    content_id=decision.content_id,
                    category=first.match.category,
                    distance=min(s.match.distance for s in decision.samples),
                    rule=decision.rule.describe(),
                    first_stream_time=round(first.stream_time, 3),
                    last_stream_time=round(decision.samples[-1].stream_time, 3),
                    latency_ms=round((time.time() - completed_at(decision, by_time)) * 1000, 1),
                    **({"scores": entry.scores} if entry.scores else {}),
                )
                matched = {s.stream_time for s in decision.samples}
                keep = {s.stream_time: s for s in context.before}
                keep.update({t: by_time[t] for t in matched if t in by_time})
                self.keep_evidence(runtime, recorded.alert_id, list(keep.values()), matched)
                runtime.after[recorded.alert_id] = self.settings.live_evidence_after
            elif recorded.new_frames:
                frames = [by_time[t] for t in recorded.new_frames if t in by_time]
                self.keep_evidence(runtime, recorded.alert_id, frames, set(recorded.new_frames))

    # -- side effects ----------------------------------------------------------------------
    def persist_soon(self, runtime: StreamRuntime) -> None:
        """Mark ``runtime`` for the flusher (within a second), without writing here."""
        runtime.dirty = True

    def emit(self, runtime: StreamRuntime, event: str, stream_time: float, **data: Any) -> None:
        if self.on_event is None:
            return
        payload: Event = {
            "event": event,
            "stream": runtime.id,
            "url": display_url(runtime.url),
            "time": _iso(time.time()),
            "stream_time": round(stream_time, 3),
            **data,
        }
        with self._events_lock:
            try:
                self.on_event(payload)
            except Exception:
                log.exception("event handler failed")

    def set_state(
        self, runtime: StreamRuntime, state: StreamState, reason: str | None = None
    ) -> None:
        if runtime.state is state and runtime.reason == reason:
            return
        runtime.state, runtime.reason = state, reason
        if state.finished:
            runtime.finished_at = time.time()
        runtime.dirty = True
        self._persist(runtime)
        self.emit(runtime, "state", runtime.stream_time, state=state.value, reason=reason)

    def wake_deliverer(self) -> None:
        if self._deliverer is not None:
            self._deliverer.wake()

    def keep_evidence(
        self, runtime: StreamRuntime, alert_id: int, samples: list[Sample], matched: set[float]
    ) -> None:
        """Queue ``samples`` to be preserved for an alert by the evidence thread: encoding
        and encrypting full frames takes tens of milliseconds each and must not hold up the
        samples of every other stream."""
        frames = [
            EvidenceFrame(
                stream_time=s.stream_time,
                captured_at=datetime.fromtimestamp(s.received_at, UTC),
                media_type=s.media_type,
                encode=s.evidence,
                matched=s.stream_time in matched,
                pdq=s.pdq,
            )
            for s in samples
            if s.evidence is not None
        ]
        if not frames:
            return
        try:
            self._evidence.put_nowait((runtime.id, dict(runtime.metadata), alert_id, frames))
        except queue.Full:
            log.error("evidence queue full: %d frames of alert %d not kept", len(frames), alert_id)

    def _evidence_loop(self) -> None:
        while True:
            job = self._evidence.get()
            if job is None:
                return
            stream_id, metadata, alert_id, frames = job
            try:
                if self._vault is None:
                    self._vault = Vault.from_settings(self.settings)
                preserve(
                    self.engine,
                    self._vault,
                    alert_id=alert_id,
                    stream_id=stream_id,
                    metadata=metadata,
                    frames=frames,
                    settings=self.settings,
                )
            except Exception:  # the alert is already durable; evidence failure is logged
                log.exception("could not preserve evidence for alert %d", alert_id)

    def _copy(self, runtime: StreamRuntime, row: Stream) -> None:
        row.state, row.state_reason = runtime.state.value, runtime.reason
        row.samples, row.matches = runtime.samples, runtime.matches
        row.dropped, row.alerts = runtime.dropped, runtime.alerts
        row.stream_time = runtime.stream_time
        row.behind_live_seconds = runtime.behind_now or 0.0
        row.falling_behind = runtime.falling_behind
        row.input_lost_seconds = runtime.lost_seconds
        row.input_discontinuities = runtime.discontinuities
        row.alerts_pending = runtime.alerts_pending
        if runtime.state in (StreamState.ENDED, StreamState.FAILED) and row.ended_at is None:
            row.ended_at = utcnow()
            row.desired = "stop"

    def _persist(self, runtime: StreamRuntime) -> None:
        with Session(self.engine) as session:
            row = session.get(Stream, runtime.id)
            if row is not None:
                self._copy(runtime, row)
                if row.desired == "run":
                    row.worker = self.worker
                    row.lease_until = utcnow() + timedelta(seconds=self.settings.live_lease_seconds)
                session.commit()
                stop_asked = row.desired == "stop" and not runtime.state.finished
        runtime.dirty = False
        if row is not None and stop_asked and not runtime.stop.is_set():
            self.stop_stream(runtime.id, "stopped by request")

    def _flush_loop(self) -> None:
        while not self._stop.wait(1.0):
            now = time.time()
            for runtime in list(self.runtimes.values()):
                if runtime.state.finished and not runtime.dirty:
                    keep = self.keep_finished_seconds
                    if keep is not None and now - (runtime.finished_at or now) > keep:
                        with self._lock:  # forget it: the database holds its final record
                            self.runtimes.pop(runtime.id, None)
                            self.sessions.pop(runtime.id, None)
                    continue
                try:
                    self._persist(runtime)
                except Exception:
                    log.exception("could not save stream %d", runtime.id)
