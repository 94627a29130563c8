"""What the monitor holds in memory for one stream while it runs here: its state, counters,
queue of samples, recent samples (evidence), decision window and timings.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from vangnet.live.budget import CpuBudget
from vangnet.live.decision import DecisionWindow
from vangnet.live.regions import StreamRegions
from vangnet.live.review_now import ReviewNowWindow
from vangnet.live.samples import Sample
from vangnet.live.states import StreamState
from vangnet.net import display_url


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
        default_factory=lambda: dict.fromkeys(
            ("decode", "sample", "hash", "classify", "regions", "verify", "lookup", "decide"),
            0.0,
        )
    )
    #: The regions this stream's samples look up (``live_regions``): the layout last read.
    regions: StreamRegions = field(default_factory=StreamRegions)
    #: Samples matched on their whole frame only because the stream was over its region
    #: budget (``live_regions_budget_ms``), and samples whose region work failed.
    regions_skipped: int = 0
    regions_failed: int = 0
    #: Samples with pixels that one or more enabled classifiers failed to score (each
    #: failure is logged; the sample's events carry ``classifier_errors``).
    classifier_failures: int = 0
    #: Samples not scored by the classifiers: the stream was over its classifier budget
    #: (``live_classify_budget_ms``); they are still matched.
    classify_skipped: int = 0
    classify_budget: CpuBudget = field(default_factory=CpuBudget)
    #: The scored samples the review-now rule counts (`vangnet.live.review_now`), the
    #: review-now alerts raised and the scored samples that met the rule.
    review_now: ReviewNowWindow = field(default_factory=ReviewNowWindow)
    review_now_alerts: int = 0
    review_now_samples: int = 0
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
    #: Frames of this stream's alerts that could not be kept as evidence (the evidence
    #: queue was full, or preserving failed after its retries; event ``evidence_lost``).
    evidence_lost: int = 0
    #: Alerts of this stream whose frames the evidence thread still holds (queued, or waiting
    #: for a retry): the monitor keeps the stream in memory until they are done, so frames
    #: lost then are still saved on its row.
    evidence_pending: int = 0

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
            "regions_skipped": self.regions_skipped,
            "regions_failed": self.regions_failed,
            "classifier_failures": self.classifier_failures,
            "classify_skipped": self.classify_skipped,
            "alerts": self.alerts,
            "review_now_alerts": self.review_now_alerts,
            "review_now_samples": self.review_now_samples,
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
            "evidence_lost": self.evidence_lost,
            "keyframes_only": self.keyframes_only,
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu.items()},
        }


def _p95_ms(values: deque[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1)
