"""The live-stream monitor: many streams, one processing stage, durable alerts.

    source ─► decode ─► Sampler ─► Sample queue ─► Processor: PDQ ─► batched index lookup
           ─► DecisionWindow (per bank rule) ─► alert row + outbox (one transaction)
           ─► events, webhooks (Deliverer), evidence (vault)

Every stream, pulled (`vangnet.live.puller.StreamSession`, one thread each) or pushed
(frames or hashes posted through the API), feeds the same `vangnet.live.processor.Processor`,
which hands its events, alerts and evidence back through a small protocol
(`ProcessorOutput`, implemented here); alerts are written by an `AlertWriter`
(`vangnet.live.alert_writes`), their frames kept by an `EvidenceKeeper`
(`vangnet.live.evidence_keeper`). This module holds the streams' life cycle, the threads,
the events and the stream rows. A stream's queue holds at most
``live_queue_samples``; when the processor falls behind, the oldest waiting sample is dropped
and counted, so a stream never lags live. Stream rows carry state, counters and a lease:
`Monitor.resume` (a worker restart, or ``vangnet worker``) takes over streams whose lease
has run out, and alerts already written are extended, never repeated.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from vangnet.actions.webhooks import Deliverer
from vangnet.config import Settings
from vangnet.egress.policy import EgressPolicy
from vangnet.errors import ConflictError, NotFoundError
from vangnet.live import alerts as alert_service
from vangnet.live.alert_writes import AlertContext, AlertWriter
from vangnet.live.decision import Decision, DecisionWindow
from vangnet.live.evidence_keeper import EvidenceKeeper
from vangnet.live.journal import Pending, PendingReviewNow
from vangnet.live.processor import Processor
from vangnet.live.puller import StreamSession
from vangnet.live.quotas import over_quota
from vangnet.live.runtime import StreamRuntime
from vangnet.live.samples import Sample, classifier_keys
from vangnet.live.states import StreamState
from vangnet.live.streams import create_stream
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher
from vangnet.net import display_url
from vangnet.signals.classifiers.base import Classifier
from vangnet.signals.classifiers.enabled import enabled_classifiers
from vangnet.store.db import writer
from vangnet.store.models import Stream, utcnow

log = logging.getLogger(__name__)


Event = dict[str, Any]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def completed_at(decision: Decision, by_time: dict[float, Sample]) -> float:
    """Wall time at which the sample that completed the decision was received."""
    last = decision.samples[-1].stream_time
    sample = by_time.get(last)
    return sample.received_at if sample is not None else time.time()


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
        classifiers: tuple[Classifier, ...] | None = None,
    ) -> None:
        self.engine = writer(engine)
        #: Lookups and other reads: plain transactions, which never take the write lock.
        self.read_engine = engine
        self.settings = settings
        #: Guards per-stream alert bookkeeping (the processor and the retry thread).
        self.alerts_lock = threading.RLock()
        self._alerts = AlertWriter(
            engine, settings=settings, lock=self.alerts_lock, on_written=self._written
        )
        self._own_indexes = indexes is None
        self.indexes = indexes or SignalIndexes(engine, snapshot_dir=self.settings.snapshot_dir)
        self.matcher = Matcher(self.indexes, settings=self.settings)
        self.on_event = on_event
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.runtimes: dict[int, StreamRuntime] = {}
        self.sessions: dict[int, StreamSession] = {}
        self._lock = threading.Lock()
        self._events_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._evidence = EvidenceKeeper(self.engine, settings=settings, emit=self.emit)
        self._deliverer: Deliverer | None = None
        self._deliver = deliver_webhooks
        #: How long an ended or failed stream stays in `runtimes` (None: until close).
        self.keep_finished_seconds = keep_finished_seconds
        #: Classifiers run on every sample with pixels (default: those the settings enable,
        #: ``classifiers``; a name that is not installed is a `ValidationError` here).
        self.classifiers = enabled_classifiers(settings) if classifiers is None else classifiers
        self.processor = Processor(
            settings=self.settings,
            runtimes=self.runtimes,
            indexes=self.indexes,
            matcher=self.matcher,
            read_engine=self.read_engine,
            classifiers=self.classifiers,
            alerts_lock=self.alerts_lock,
            output=self,
        )

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> Monitor:
        if self._own_indexes:
            self.indexes.load()
            self.indexes.start(
                poll_seconds=self.settings.index_poll_seconds,
                snapshot_seconds=self.settings.index_snapshot_seconds,
            )
        self._alerts.start()  # with the alerts a stopped process had not written
        self.processor.start()
        if self._deliver:
            self._deliverer = Deliverer(self.engine, settings=self.settings)
            self._deliverer.start(poll_seconds=0.2)
        self._flusher = threading.Thread(target=self._flush_loop, name="vangnet-flush", daemon=True)
        self._flusher.start()
        self._evidence.start()
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
        self._alerts.close()  # one last try; what fails stays journaled
        self._evidence.close()  # preserve what is queued (those alerts' frames too), then stop
        self._stop.set()
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
            evidence_lost=row.evidence_lost,
            regions_skipped=row.regions_skipped,
            regions_failed=row.regions_failed,
            classify_skipped=row.classify_skipped,
            classifier_failures=row.classifier_failures,
            review_now_alerts=row.review_now_alerts,
            review_now_samples=row.review_now_samples,
        )
        with Session(self.engine) as session:
            for alert in alert_service.list_alerts(
                session, stream_id=row.id, limit=10_000, kind=alert_service.MATCH
            ):
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
            puller = StreamSession(
                runtime,
                settings=self.settings,
                processor=self.processor,
                set_state=self.set_state,
                offset=row.stream_time,
            )
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
    def alerts_pending(self) -> int:
        """Alert writes waiting for the database (each is in the on-disk journal)."""
        return self._alerts.pending

    def write_alert(self, entry: Pending, context: AlertContext | None) -> None:
        """Write the alert of ``entry`` durably (`AlertWriter.write`); events, webhooks and
        evidence follow once its row is committed."""
        self._alerts.write(entry, context)

    def write_review_now(self, entry: PendingReviewNow, context: AlertContext) -> None:
        """Write or extend a stream's review-now alert durably (`AlertWriter.write`, the
        same journal and retries as match alerts); its event, webhook and evidence follow
        once its row is committed."""
        self._alerts.write(entry, context)

    def _written(
        self,
        entry: Pending,
        context: AlertContext | None,
        recorded: alert_service.Recorded,
    ) -> None:
        """After the alert row is committed: events, webhooks, evidence."""
        if isinstance(entry, PendingReviewNow):
            self._review_now_written(entry, context, recorded)
            return
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
                    **(
                        classifier_keys(deciding)
                        if (deciding := by_time.get(context.stream_time)) is not None
                        else ({"scores": entry.scores} if entry.scores else {})
                    ),
                )
                matched = {s.stream_time for s in decision.samples}
                keep = {s.stream_time: s for s in context.before}
                keep.update({t: by_time[t] for t in matched if t in by_time})
                self.keep_evidence(runtime, recorded.alert_id, list(keep.values()), matched)
                runtime.after[recorded.alert_id] = self.settings.live_evidence_after
            elif recorded.new_frames:
                frames = [by_time[t] for t in recorded.new_frames if t in by_time]
                self.keep_evidence(runtime, recorded.alert_id, frames, set(recorded.new_frames))

    def _review_now_written(
        self,
        entry: PendingReviewNow,
        context: AlertContext | None,
        recorded: alert_service.Recorded,
    ) -> None:
        """After a review-now alert's row is committed: its ``review_now`` event (new
        alerts), webhook, and its samples' frames as evidence (kept once each)."""
        if recorded.created:
            self.wake_deliverer()
        if context is None:  # replayed after a restart: no frames in memory any more
            log.warning("review-now alert %d written from the journal", recorded.alert_id)
            return
        runtime = context.runtime
        best = max(entry.samples, key=lambda s: s.value)
        with self.alerts_lock:
            if recorded.created:
                runtime.review_now_alerts += 1
                self.emit(
                    runtime,
                    "review_now",
                    context.stream_time,
                    alert_id=recorded.alert_id,
                    rule=entry.rule,
                    samples=len(entry.samples),
                    first_stream_time=round(entry.samples[0].stream_time, 3),
                    priority=round(best.value, 4),
                    summary=best.summary,
                    video_call=round(max(s.video_call for s in entry.samples), 4),
                    scores=dict(best.scores),
                )
            if recorded.new_frames:
                frames = [context.by_time[t] for t in recorded.new_frames if t in context.by_time]
                self.keep_evidence(runtime, recorded.alert_id, frames, set())

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
        """Queue ``samples`` to be preserved for an alert by the evidence thread
        (`EvidenceKeeper`): it must not hold up the samples of every other stream."""
        self._evidence.keep(runtime, alert_id, samples, matched)

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
        row.evidence_lost = runtime.evidence_lost
        row.regions_skipped, row.regions_failed = runtime.regions_skipped, runtime.regions_failed
        row.classify_skipped = runtime.classify_skipped
        row.classifier_failures = runtime.classifier_failures
        row.review_now_alerts = runtime.review_now_alerts
        row.review_now_samples = runtime.review_now_samples
        if runtime.state in (StreamState.ENDED, StreamState.FAILED) and row.ended_at is None:
            row.ended_at = utcnow()
            row.desired = "stop"

    def _persist(self, runtime: StreamRuntime) -> None:
        # Clean before the copy, not after the commit: a sample counted while this write is
        # under way marks the runtime dirty again, so the next flush saves it (clearing the
        # flag afterwards lost such updates for good once the stream had ended).
        runtime.dirty = False
        try:
            with Session(self.engine) as session:
                row = session.get(Stream, runtime.id)
                if row is not None:
                    self._copy(runtime, row)
                    if row.desired == "run":
                        row.worker = self.worker
                        row.lease_until = utcnow() + timedelta(
                            seconds=self.settings.live_lease_seconds
                        )
                    session.commit()
                    stop_asked = row.desired == "stop" and not runtime.state.finished
        except BaseException:
            runtime.dirty = True  # not saved: the next flush tries again
            raise
        if row is not None and stop_asked and not runtime.stop.is_set():
            self.stop_stream(runtime.id, "stopped by request")

    def _flush_loop(self) -> None:
        while not self._stop.wait(1.0):
            now = time.time()
            for runtime in list(self.runtimes.values()):
                if runtime.state.finished and not runtime.dirty:
                    keep = self.keep_finished_seconds
                    # not while the evidence thread holds frames of its alerts: a loss is
                    # counted on the runtime (pending is read before dirty, which the
                    # keeper sets first), and only a remembered runtime is saved
                    held = runtime.evidence_pending > 0 or runtime.dirty
                    if keep is not None and now - (runtime.finished_at or now) > keep and not held:
                        with self._lock:  # forget it: the database holds its final record
                            self.runtimes.pop(runtime.id, None)
                            self.sessions.pop(runtime.id, None)
                    continue
                try:
                    self._persist(runtime)
                except Exception:
                    log.exception("could not save stream %d", runtime.id)
