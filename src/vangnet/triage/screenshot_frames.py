"""Video frames for the frame library: sampled for hashing, and decoded again for checks.

`sampled_frames` is what the library hashes: `vangnet.media.video.iter_video_frames`
(safe in-memory decode, vPDQ sampling) with the video's black bars cropped, as the bank
does. `frames_at` gets a few of those frames back to verify a candidate: it seeks to the
keyframe before each one and decodes on (a few dozen frames, wherever in the video the
frame is), and falls back to decoding from the start when the container cannot seek.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import closing

import numpy as np

from vangnet.errors import MediaError
from vangnet.media.video import (
    BAR_MIN_CONTENT,
    VideoFrame,
    crop_black_bars,
    frame_content_box,
    frames_near,
    iter_video_frames,
)
from vangnet.signals.pdq import RgbArray


def sampled_frames(data: bytes, fps: float | None) -> Generator[VideoFrame, None, None]:
    """Frames sampled at ``fps`` (0 = every frame), bars cropped; a generator, so that it
    can be closed early. Raises `MediaError` subclasses."""
    yield from crop_black_bars(iter_video_frames(data, fps=fps))


def _without_bars(rgb: RgbArray) -> RgbArray:
    box = frame_content_box(rgb)
    if box is None:
        return rgb
    top, bottom, left, right = box
    height, width = rgb.shape[:2]
    if bottom - top < BAR_MIN_CONTENT * height or right - left < BAR_MIN_CONTENT * width:
        return rgb
    return np.ascontiguousarray(rgb[top:bottom, left:right])


def decode_at(data: bytes, timestamps: Sequence[float]) -> dict[float, RgbArray]:
    """The frames shown at the given seconds of an (already validated) video, each found by
    seeking to the keyframe before it and decoding on (`vangnet.media.video.frames_near`),
    with its black bars cropped. Raises `MediaError` when the container cannot seek or
    decode."""
    return {at: _without_bars(rgb) for at, rgb in frames_near(data, timestamps).items()}


def _from_start(data: bytes, numbers: set[int], fps: float | None) -> dict[int, RgbArray]:
    found: dict[int, RgbArray] = {}
    last = max(numbers)
    with closing(sampled_frames(data, fps)) as frames:
        for frame in frames:
            if frame.number in numbers:
                found[frame.number] = frame.rgb
            if frame.number >= last:
                break
    return found


def frames_at(
    data: bytes, numbers: Sequence[int], timestamps: Sequence[float], *, fps: float | None
) -> dict[int, RgbArray]:
    """RGB (bars cropped) of the frames with the given decode-order ``numbers`` (shown at
    ``timestamps`` seconds) of a video sampled at ``fps``, keyed by number."""
    if not numbers:
        return {}
    try:
        by_time = decode_at(data, timestamps)
        found = {n: by_time[t] for n, t in zip(numbers, timestamps, strict=True) if t in by_time}
        if len(found) == len(set(numbers)):
            return found
    except MediaError:
        pass
    return _from_start(data, set(numbers), fps)
