"""The review-now rule: when a live stream's classifier readings say a person should look
at it now.

Each sample the classifiers scored (about one every 14 s per stream at the default
``live_classify_budget_ms``) has a priority signal (`vangnet.signals.classifiers.fusion`)
and, from image clues alone, a video-call likelihood (`vangnet.triage.text_calls`). A
stream's `ReviewNowWindow` keeps its last ``live_review_now_n`` scored samples, those within
``live_review_now_window_seconds`` of stream time before the newest; a sample *qualifies*
when it is itself ``likely`` and at least ``live_review_now_k`` of the samples kept are
(``live_review_now_video_call_k`` instead, when set and the sample reads as a video call:
its likelihood at least ``live_review_now_video_call_threshold``).

A qualifying sample raises a review-now alert, or extends the stream's open one
(`vangnet.live.review_now_alerts`). It is never a verdict: it never stops a stream, banks
or reports anything; it asks a person to look.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from vangnet.config import Settings
from vangnet.live.samples import Sample


@dataclass(frozen=True)
class ReviewNowRule:
    """``k`` likely samples of the last ``n`` scored ones within ``window`` seconds of stream
    time (``k`` 0: off); ``video_call_k`` (0: as ``k``) when the qualifying sample's video-call
    likelihood is at least ``video_call_threshold``."""

    k: int = 2
    n: int = 3
    window: float = 60.0
    video_call_threshold: float = 0.5
    video_call_k: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> ReviewNowRule:
        return cls(
            k=settings.live_review_now_k,
            n=settings.live_review_now_n,
            window=settings.live_review_now_window_seconds,
            video_call_threshold=settings.live_review_now_video_call_threshold,
            video_call_k=settings.live_review_now_video_call_k,
        )

    @property
    def enabled(self) -> bool:
        return self.k > 0

    def needed(self, video_call: float) -> int:
        """Likely samples needed when the newest one has this video-call likelihood."""
        if self.video_call_k and video_call >= self.video_call_threshold:
            return min(self.video_call_k, self.k)
        return self.k

    def describe(self) -> str:
        text = f"{self.k} likely of the last {self.n} scored samples within {self.window:g} s"
        if self.video_call_k and self.video_call_k < self.k:
            text += f" ({self.video_call_k} in a likely video call)"
        return text


@dataclass(frozen=True)
class Scored:
    """One scored sample as the rule sees it."""

    stream_time: float
    likely: bool
    video_call: float = 0.0
    sample: Sample | None = field(default=None, compare=False, repr=False)


@dataclass
class ReviewNowWindow:
    """The scored samples of one stream that the rule counts (see the module)."""

    scored: deque[Scored] = field(default_factory=deque)

    def add(self, item: Scored, rule: ReviewNowRule) -> list[Scored]:
        """Count ``item`` (scored samples arrive in stream-time order); the likely samples
        kept, oldest first, when ``item`` qualifies, else ``[]``."""
        if not rule.enabled:
            return []
        self.scored.append(item)
        while len(self.scored) > rule.n:
            self.scored.popleft()
        while self.scored and self.scored[0].stream_time < item.stream_time - rule.window:
            self.scored.popleft()
        if not item.likely:
            return []
        likely = [s for s in self.scored if s.likely]
        return likely if len(likely) >= rule.needed(item.video_call) else []
