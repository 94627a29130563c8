"""The shared processing stage of every live stream: one batch of samples from pixels (or
pushed hashes) to matches to decisions.

    Sample queue ─► hash (PDQ, other picture signals) ─► batched index lookup
                ─► DecisionWindow (per bank rule) ─► alert (handed to the output)

The processor knows nothing of threads per stream, leases or the database beyond its index
lookups: what it finds goes to a `ProcessorOutput` (the monitor), which writes alerts,
emits events and keeps evidence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.live.alert_writes import AlertContext
from vangnet.live.decision import Decision, Rule, default_rule, found_keys, rule_for
from vangnet.live.journal import PendingAlert, PendingReviewNow, ReviewSample, new_key
from vangnet.live.review_now import ReviewNowRule, Scored
from vangnet.live.runtime import StreamRuntime
from vangnet.live.samples import Sample, classifier_keys
from vangnet.match.indexes import SignalIndexes
from vangnet.match.results import Match
from vangnet.match.service import Matcher, bank_rules
from vangnet.review.classifier_calibration import calibrated_thresholds
from vangnet.signals.base import ImageHasher
from vangnet.signals.classifiers.base import Classifier, classifier_types
from vangnet.signals.classifiers.fusion import Fusion
from vangnet.signals.classifiers.scoring import score_pictures
from vangnet.signals.features import QueryPicture
from vangnet.signals.pdq import PdqSignal, dihedral_hashes, hash_pixels
from vangnet.signals.regions import RegionHash
from vangnet.signals.registry import signal_types
from vangnet.triage.text_calls import video_call_likelihood

log = logging.getLogger(__name__)


class ProcessorOutput(Protocol):
    """Where the processor hands what it finds (the monitor implements it)."""

    def emit(self, runtime: StreamRuntime, event: str, stream_time: float, **data: Any) -> None:
        """An event of the stream (``match``, ``falling_behind``, ``caught_up``)."""

    def write_alert(self, entry: PendingAlert, context: AlertContext | None) -> None:
        """Write a decision's alert durably (the processor does not wait for it to land)."""

    def keep_evidence(
        self, runtime: StreamRuntime, alert_id: int, samples: list[Sample], matched: set[float]
    ) -> None:
        """Keep ``samples`` as evidence of alert ``alert_id``."""

    def write_review_now(self, entry: PendingReviewNow, context: AlertContext) -> None:
        """Write or extend a stream's review-now alert durably (not waited for)."""


class Processor:
    """The shared stage: hash queued samples, look them up in one batch, decide, alert.

    It takes the samples of ``runtimes`` (the streams running here, shared with the
    monitor, which adds and removes them), matches them with ``matcher`` against
    ``indexes`` (lookups read through ``read_engine``) and hands events, alerts and evidence
    to ``output``. ``alerts_lock`` guards the per-stream alert bookkeeping it shares with
    whoever writes the alerts."""

    def __init__(
        self,
        *,
        settings: Settings,
        runtimes: Mapping[int, StreamRuntime],
        indexes: SignalIndexes,
        matcher: Matcher,
        read_engine: Engine,
        classifiers: tuple[Classifier, ...],
        alerts_lock: threading.RLock,
        output: ProcessorOutput,
    ) -> None:
        self.settings = settings
        self.runtimes = runtimes
        self.indexes = indexes
        self.matcher = matcher
        self.read_engine = read_engine
        self.classifiers = classifiers
        self.alerts_lock = alerts_lock
        self.output = output
        #: How scores fuse into the priority signal (the installed classifiers' and these
        #: ones' measures, the deployment's stored calibration as it was when the monitor
        #: started), and the review-now rule (`vangnet.live.review_now`).
        with Session(read_engine) as session:
            calibrated = calibrated_thresholds(session, settings)
        self.fusion = Fusion.from_settings(
            settings,
            {**classifier_types(), **{c.name: type(c) for c in classifiers}},
            calibrated=calibrated,
        )
        self.review_rule = ReviewNowRule.from_settings(settings)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def submit(self, runtime: StreamRuntime, sample: Sample) -> None:
        with self._cond:
            runtime.queue.append(sample)
            while len(runtime.queue) > self.settings.live_queue_samples:
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
            if self._thread.is_alive():
                log.warning("live processing did not finish its queued samples within 10 s")
        with self._cond:  # what could not be processed in time is counted, not lost silently
            for runtime in self.runtimes.values():
                if runtime.queue:
                    runtime.dropped += len(runtime.queue)
                    runtime.queue.clear()
                    runtime.dirty = True

    def _take(self) -> list[tuple[StreamRuntime, Sample]]:
        """The samples queued now, waiting for some; ``[]`` once stopping and every queue is
        empty: the samples queued when `stop` is asked are still processed (the last seconds
        of a stream that ended, a worker handing its streams over), not dropped."""
        with self._cond:
            while True:
                batch = [
                    (rt, rt.queue.popleft())
                    for rt in list(self.runtimes.values())
                    for _ in range(len(rt.queue))
                ]
                if batch or self._stopping:
                    return batch
                self._cond.wait(timeout=0.5)

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
        indexes = self.indexes
        banks = {n: b for n, b in indexes.banks.items() if b.enabled}
        dihedral = any(bank_rules(b, "pdq", self.settings).dihedral for b in banks.values())
        values: list[str] = []
        qualities: list[int | None] = []
        variants: list[list[str]] = []
        started = time.thread_time()
        for _, sample in batch:
            if sample.pdq is None and sample.pixels is not None:
                if dihedral:
                    hashes, quality = dihedral_hashes(sample.pixels)
                    sample.pdq, sample.quality = hashes[0], quality
                    variants.append(hashes)  # `TRANSFORMS` order, identity first
                else:
                    sample.pdq, sample.quality = hash_pixels(sample.pixels)
                    variants.append([])
            else:
                variants.append([])
            values.append(sample.pdq or "0" * 64)
            qualities.append(sample.quality)
        hashed = time.thread_time()
        self._classify(batch)
        regions, worked = self._regions(batch, dihedral=dihedral, banks=bool(banks))
        regioned = time.thread_time()  # counted per stream, under "regions"
        # the wider net's checks are paid after the batch: a stream that fell behind (several
        # samples in one batch) has only its newest sample within budget checked, so one
        # allowance never pays for several
        newest = {rt.id: i for i, ((rt, _), ok) in enumerate(zip(batch, worked, strict=True)) if ok}
        pictures = [
            self._picture(sample) if newest.get(runtime.id) == i else None
            for i, (runtime, sample) in enumerate(batch)
        ]
        with Session(self.read_engine) as session:  # a read: no write lock, ever
            found = self.matcher.match_regions_many(
                session,
                values=values,
                qualities=qualities,
                variants=variants,
                regions=regions,
                pictures=pictures if any(p is not None for p in pictures) else None,
            )
            for (_, sample), matches in zip(batch, found, strict=True):
                matches[:] = [
                    m if m.region is None else replace(m, region=sample.frame_box(m.region))
                    for m in matches
                ]
            self._other_image_signals(session, batch, found)
        looked_up = time.thread_time()
        # the wider net's checks, each on its own stream's budget (features of the sample's
        # frame and their match with a banked picture's: `QueryPicture.spent`)
        verified = 0.0
        for (runtime, _), picture in zip(batch, pictures, strict=True):
            if picture is not None and picture.spent > 0:
                runtime.regions.spend(picture.spent, self.settings)
                runtime.cpu["verify"] += picture.spent
                verified += picture.spent
        share = 1.0 / len(batch)  # the batch's CPU time, split evenly over its samples
        for runtime, _ in batch:
            runtime.cpu["hash"] += (hashed - started) * share
            runtime.cpu["lookup"] += max(0.0, looked_up - regioned - verified) * share
        defaults = {c: default_rule(self.settings, high_confidence=c) for c in (False, True)}
        rules = {
            n: rule_for(b.policy, default=defaults[b.high_confidence]) for n, b in banks.items()
        }
        for (runtime, sample), matches in zip(batch, found, strict=True):
            self._after_lookup(runtime, sample, matches, rules)

    def _picture(self, sample: Sample) -> QueryPicture | None:
        """The sample's picture for the wider net (``live_verify``): the decoded frame
        scaled to ``live_verify_side``, made only when a candidate needs it (boxes stay in
        the sample's pixels); the sample itself when it has no larger frame."""
        if not self.settings.live_verify or sample.pixels is None:
            return None
        pixels = sample.pixels
        height, width = pixels.shape[:2]
        larger, side = sample.larger, self.settings.live_verify_side
        fit = self.settings.match_verify_side
        if larger is None or side <= max(height, width):
            return QueryPicture(lambda: Image.fromarray(pixels), size=(width, height), side=fit)
        return QueryPicture(lambda: Image.fromarray(larger(side)), size=(width, height), side=fit)

    def _classify(self, batch: list[tuple[StreamRuntime, Sample]]) -> None:
        """Score the samples that have pixels with the enabled classifiers, in batches, each
        stream within its classifier budget (``live_classify_budget_ms``: a sample over it
        is not scored and is counted, ``classify_skipped``); a classifier that fails is
        logged and counted on the stream, and named on the sample (``classifier_errors``),
        never fatal. The batch's CPU time is split evenly over the samples scored, each on
        its own stream's budget and ``classify`` CPU."""
        if not self.classifiers:
            return
        rate = self.settings.live_classify_budget_ms
        # in rounds of one sample per stream (a stream that fell behind has several in a
        # batch): each round is scored in one call, and a stream's next sample is judged
        # on what its earlier ones really cost, so one allowance never pays for several
        waiting: dict[int, deque[tuple[StreamRuntime, Sample]]] = {}
        for runtime, sample in batch:
            if sample.pixels is not None:
                waiting.setdefault(runtime.id, deque()).append((runtime, sample))
        room = self.settings.live_classify_per_batch or len(batch)
        while waiting:
            chosen: list[tuple[StreamRuntime, Sample]] = []
            for key in list(waiting):
                runtime, sample = waiting[key].popleft()
                if not waiting[key]:
                    del waiting[key]
                if runtime.classify_budget.allowed(sample.stream_time, rate):
                    chosen.append((runtime, sample))
                else:
                    runtime.classify_skipped += 1
            # the streams that waited longest (most allowance saved) first, within the cap
            chosen.sort(key=lambda rs: -(rs[0].classify_budget.credit or 0.0))
            for runtime, _ in chosen[room:]:
                runtime.classify_skipped += 1
            chosen = chosen[:room]
            room -= len(chosen)
            if chosen:
                self._score_round(chosen, rate)
            if room <= 0:
                for queue in waiting.values():
                    for runtime, _ in queue:
                        runtime.classify_skipped += 1
                break

    def _score_round(self, chosen: list[tuple[StreamRuntime, Sample]], rate: float) -> None:
        """Score one sample of each of several streams in one call; each pays an even
        share of the call's CPU time from its budget and into its ``classify`` CPU."""
        began = time.thread_time()
        readings = score_pictures(
            [s.pixels for _, s in chosen if s.pixels is not None], self.classifiers
        )
        each = (time.thread_time() - began) / len(chosen)
        for (runtime, sample), reading in zip(chosen, readings, strict=True):
            sample.scores = reading.values()
            sample.summaries = reading.summaries()
            sample.classifier_errors = dict(reading.errors)
            if reading.errors:
                runtime.classifier_failures += 1
            spent = each + self._read_priority(sample, reading.scores)
            runtime.classify_budget.spend(spent, rate)
            runtime.cpu["classify"] += spent

    def _read_priority(self, sample: Sample, scores: Mapping[str, Any]) -> float:
        """The sample's priority signal and, when it is likely (the review-now rule counts
        it), its video-call likelihood from image clues (about 14 ms of CPU a sample);
        returns the CPU time spent, which the stream's classifier budget pays."""
        if not scores:
            return 0.0
        began = time.thread_time()
        sample.priority = self.fusion.fuse(scores)
        if sample.priority.likely and self.review_rule.enabled and sample.pixels is not None:
            try:
                call = video_call_likelihood(sample.pixels, None)
                sample.video_call, sample.video_call_reasons = call.score, tuple(call.reasons)
            except Exception:  # the rule still counts the sample, as no video call
                log.exception("video-call likelihood of a sample failed; counted as none")
        return time.thread_time() - began

    def _regions(
        self, batch: list[tuple[StreamRuntime, Sample]], *, dihedral: bool, banks: bool
    ) -> tuple[list[tuple[RegionHash, ...]], list[bool]]:
        """The regions of each decoded sample (``live_regions``), each stream's layout kept
        between samples and its work within its budget (`vangnet.live.regions`), and
        whether each sample was within its budget (the wider net's checks spend from it
        too). Each sample's CPU time goes to its own stream's ``regions`` key."""
        out: list[tuple[RegionHash, ...]] = []
        worked: list[bool] = []
        for runtime, sample in batch:
            if not (self.settings.live_regions and banks) or sample.pixels is None:
                out.append(())
                worked.append(False)
                continue
            state = runtime.regions
            if not state.allowed(sample.stream_time, self.settings):
                runtime.regions_skipped += 1  # matched on its whole frame only
                out.append(())
                worked.append(False)
                continue
            worked.append(True)
            began = time.thread_time()
            try:
                found = state.hashes(
                    sample.pixels, self.settings, dihedral=dihedral, larger=sample.larger
                )
                out.append(found)
            except Exception:  # the whole frame is still matched
                log.exception("regions of a sample of stream %d failed", runtime.id)
                runtime.regions_failed += 1
                out.append(())
            spent = time.thread_time() - began
            state.spend(spent, self.settings)
            runtime.cpu["regions"] += spent
        return out, worked

    def _other_image_signals(
        self,
        session: Session,
        batch: list[tuple[StreamRuntime, Sample]],
        found: list[list[Match]],
    ) -> None:
        """Every other installed picture hasher (a plug-in's perceptual hash or embedding)
        whose index holds values: hash the decoded samples, keep each value on its sample
        (``Sample.signals``: its evidence records it) and add its matches. A plug-in that
        fails is logged and skipped; PDQ matching goes on."""
        indexes = self.indexes
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
                values = [
                    cls.validate(cls.hash_picture(Image.fromarray(px))[0]) for _, px in pictures
                ]
                for (i, _), value in zip(pictures, values, strict=True):
                    batch[i][1].signals[name] = value
                more = self.matcher.lookup_many(session, signal_type=name, values=values)
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
        decide = time.thread_time()
        runtime.window.rules = rules
        runtime.samples += 1
        origin = sample.received_at - sample.stream_time
        if runtime.origin is None or origin < runtime.origin:
            runtime.origin = origin
        runtime.stream_time = max(runtime.stream_time, sample.stream_time)
        runtime.sample_times.append(time.time())
        runtime.recent.append(sample)
        depth = max([self.settings.live_evidence_before + 1, *(r.window for r in rules.values())])
        while len(runtime.recent) > depth:
            runtime.recent.popleft()
        if matches:
            runtime.matches += 1
        for m in matches:
            self.output.emit(
                runtime,
                "match",
                sample.stream_time,
                bank=m.bank,
                content_id=m.content_id,
                distance=m.distance,
                category=m.category,
                reason=sample.reason.value,
                **found_keys(m),
                **classifier_keys(sample),
            )
        self._keep_after(runtime, sample, {(m.bank, m.content_id) for m in matches})
        for decision in runtime.window.add(sample.stream_time, matches):
            self._alert(runtime, sample, decision)
        if sample.priority is not None:
            self._review_now(runtime, sample)
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
        limit = self.settings.live_behind_limit_seconds
        if not runtime.falling_behind and behind > limit:
            runtime.falling_behind = True
            log.warning("stream %d is %.1f s behind live: add capacity", runtime.id, behind)
            self.output.emit(
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
            runtime.dirty = True  # saved by the monitor's flusher within a second
        elif runtime.falling_behind and behind < limit / 2:
            runtime.falling_behind = False
            self.output.emit(
                runtime, "caught_up", sample.stream_time, behind_live_s=round(behind, 3)
            )
            runtime.dirty = True  # saved by the monitor's flusher within a second

    def _alert(self, runtime: StreamRuntime, sample: Sample, decision: Decision) -> None:
        by_time = {s.stream_time: s for s in runtime.recent}
        bank = self.indexes.banks.get(decision.bank)
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
        before = list(runtime.recent)[-(self.settings.live_evidence_before + 1) :]
        self.output.write_alert(entry, AlertContext(runtime, sample.stream_time, by_time, before))

    def _review_now(self, runtime: StreamRuntime, sample: Sample) -> None:
        """Count a scored sample for the review-now rule; one that qualifies raises the
        stream's review-now alert or extends its open one (written durably, not waited
        for), with the likely samples counted as its evidence. Never a verdict: nothing
        here stops, banks or reports."""
        assert sample.priority is not None
        likely = sample.priority.likely
        # only a likely sample is kept (its frame may become evidence): an unlikely one
        # holds no decoded frame in memory while the rule counts it
        scored = Scored(sample.stream_time, likely, sample.video_call, sample if likely else None)
        counted = runtime.review_now.add(scored, self.review_rule)
        if not counted:
            return
        runtime.review_now_samples += 1
        samples = [s.sample for s in counted if s.sample is not None]
        entry = PendingReviewNow(
            key=new_key(),
            stream_id=runtime.id,
            rule=self.review_rule.describe(),
            samples=tuple(_review_sample(s) for s in samples),
        )
        by_time = {s.stream_time: s for s in samples}
        self.output.write_review_now(
            entry, AlertContext(runtime, sample.stream_time, by_time, before=[])
        )

    def _keep_after(
        self, runtime: StreamRuntime, sample: Sample, matched: set[tuple[str, int]]
    ) -> None:
        """The samples after an alert, kept as its evidence (``live_evidence_after``)."""
        with self.alerts_lock:
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
            self.output.keep_evidence(runtime, alert_id, [sample], was_match)
            runtime.after[alert_id] = remaining - 1


def _review_sample(sample: Sample) -> ReviewSample:
    """What a review-now alert records of one of its samples."""
    fused = sample.priority
    return ReviewSample(
        stream_time=sample.stream_time,
        captured_at=datetime.fromtimestamp(sample.received_at, UTC),
        pdq=sample.pdq or "0" * 64,
        quality=sample.quality or 0,
        value=fused.value if fused is not None else 0.0,
        video_call=sample.video_call,
        summary=fused.summary if fused is not None else "",
        scores=dict(sample.scores),
        video_call_reasons=sample.video_call_reasons,
        parts=tuple(p.as_json() for p in fused.parts) if fused is not None else (),
    )
