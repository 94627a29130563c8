"""Which decoded frames of a live stream get hashed.

A base rate (``live_sample_fps``, default 1 per second) plus scene-change samples: every
decoded frame is shrunk to a 32x32 grey thumbnail (by FFmpeg's scaler, cheap), and a frame
whose thumbnail differs from the last sampled one by more than ``live_scene_change`` (mean
absolute difference, 0-255) is sampled at once, at most ``live_max_extra_fps`` times a
second. A picture held up to the camera for two seconds is then sampled when it appears,
not only when the next base-rate tick comes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

THUMB_SIDE = 32


class SampleReason(enum.StrEnum):
    BASE = "base"
    SCENE = "scene"


def thumbnail(frame: av.VideoFrame) -> npt.NDArray[np.int16]:
    """The 32x32 grey thumbnail scene changes are measured on."""
    small = frame.reformat(width=THUMB_SIDE, height=THUMB_SIDE, format="gray")
    return np.asarray(small.to_ndarray(), dtype=np.int16)


@dataclass
class Sampler:
    """Decides, frame by frame, whether to sample (`offer`)."""

    fps: float
    scene_change: float = 0.0
    max_extra_fps: float = 0.0
    _last_time: float | None = None
    _last_thumb: npt.NDArray[np.int16] | None = None

    def offer(self, stream_time: float, frame: av.VideoFrame) -> SampleReason | None:
        """The reason to sample this frame, or None to skip it."""
        interval = 1.0 / self.fps
        due = self._last_time is None or stream_time - self._last_time >= interval * 0.999
        if self._last_time is not None and stream_time < self._last_time:
            due = True  # the stream restarted its clock (reconnect, loop)
        thumb = thumbnail(frame) if self.scene_change > 0 else None
        reason: SampleReason | None = SampleReason.BASE if due else None
        if reason is None and thumb is not None and self._last_thumb is not None:
            gap_ok = (
                self.max_extra_fps > 0
                and stream_time - (self._last_time or 0.0) >= 1.0 / self.max_extra_fps
            )
            change = float(np.abs(thumb - self._last_thumb).mean())
            if gap_ok and change > self.scene_change:
                reason = SampleReason.SCENE
        if reason is not None:
            self._last_time = stream_time
            self._last_thumb = thumb
        return reason
