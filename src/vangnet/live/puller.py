"""Pulling one stream (`StreamSession`, a thread each): connect, decode, sample, hand the
samples to the processor, reconnect with backoff. `KeyframeGaps` decides when decoding only
key frames still gives the sample rate; `InputLoss` counts frames that never arrived.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Protocol

from vangnet.config import Settings
from vangnet.egress.policy import EgressPolicy
from vangnet.live.processor import Processor
from vangnet.live.reader import FrameReader
from vangnet.live.runtime import StreamRuntime
from vangnet.live.sampler import Sampler
from vangnet.live.samples import frame_sample
from vangnet.live.states import StreamState
from vangnet.sources.streams import (
    StreamEnded,
    StreamRejected,
    StreamStalled,
    StreamUnavailable,
    source_for,
)

log = logging.getLogger(__name__)


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


class SetState(Protocol):
    """Records a stream's new state (the monitor: saved, and emitted as a ``state`` event)."""

    def __call__(
        self, runtime: StreamRuntime, state: StreamState, reason: str | None = None
    ) -> None: ...


class StreamSession:
    """Pulls one stream in its own thread: connect, decode, sample, reconnect with backoff.

    Samples go to ``processor``; each change of state goes to ``set_state``."""

    def __init__(
        self,
        runtime: StreamRuntime,
        *,
        settings: Settings,
        processor: Processor,
        set_state: SetState,
        offset: float = 0.0,
    ) -> None:
        self.settings = settings
        self.processor = processor
        self.set_state = set_state
        self.runtime = runtime
        self.offset = offset
        self.thread = threading.Thread(
            target=self._run, name=f"vangnet-stream-{runtime.id}", daemon=True
        )

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopped."""
        return self.runtime.stop.wait(seconds)

    def _run(self) -> None:
        runtime, settings, set_state = self.runtime, self.settings, self.set_state
        assert runtime.url is not None
        sampler = Sampler(runtime.fps, settings.live_scene_change, settings.live_max_extra_fps)
        failures = 0
        last_error = ""
        while not runtime.stop.is_set():
            if failures == 0:
                set_state(runtime, StreamState.CONNECTING)
            else:  # with the error that broke the last connection
                set_state(runtime, StreamState.RECONNECTING, last_error)
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
            reader = FrameReader(source, name=f"vangnet-read-{runtime.id}", stop=runtime.stop)
            try:
                for decoded in reader.frames():
                    item = decoded.item
                    runtime.cpu["decode"] += decoded.cpu
                    cpu = time.thread_time()
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
                        set_state(runtime, StreamState.LIVE)
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
                        self.processor.submit(runtime, sample)
                    runtime.cpu["sample"] += time.thread_time() - cpu
                    if runtime.stop.is_set():
                        source.close()
                        break
            except StreamEnded:
                set_state(runtime, StreamState.ENDED, "the stream ended")
                return
            except StreamRejected as error:
                set_state(runtime, StreamState.FAILED, error.message)
                return
            except StreamStalled as error:
                last_error = error.message
                set_state(runtime, StreamState.STALLED, error.message)
            except StreamUnavailable as error:
                last_error = error.message
            except Exception as error:  # a decoder bug must fail this stream only
                log.exception("stream %d failed", runtime.id)
                set_state(runtime, StreamState.FAILED, f"internal error: {error}")
                return
            if runtime.stop.is_set():
                break
            failures += 1
            if failures > settings.live_reconnect_attempts:
                set_state(
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
            set_state(runtime, StreamState.ENDED, runtime.stop_reason or "stopped")
