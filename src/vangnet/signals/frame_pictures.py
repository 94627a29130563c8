"""The pixels of a query video's sampled frames, for the wider net (issue 12, point 2).

`vangnet.signals.vpdq.hash_video_variants` hashes up to ``match_video_frames`` sampled
frames of a query video (`FrameRegions`) and keeps none of their pixels. When a candidate of
one of those frames needs verifying by local features (`vangnet.match.service.Matcher`),
`FramePictures` decodes the in-memory video again: the frames the matcher will verify
(`QueryPicture.prefetch`) are made together, each by seeking to the key frame before its
time and decoding on (`vangnet.media.video.frames_near`: a few frames each, wherever it is).
A frame is taken only when it is the one that was hashed: its PDQ, bars cropped as they were
for its hash (`FrameRegions.content`), within `SAME_BITS` of the hashed one. The frames a
seek did not give back (a container that cannot seek, timestamps that do not follow the
frame numbers) are decoded in one pass from the start, by their decode-order number (the
numbering they were hashed under). A frame asked for later (the budget reached further than
planned) costs another round. Measured on a 30 s 1280x720 H.264 clip (key frame every
second): 8 frames by seeking 0.12 s of CPU, in one pass from the start 0.62 s; the last
frame alone 0.02 s against 0.56 s.

Region boxes stay in the decoded frame's pixels. Each frame is kept fitted within `SIDE`
(as a live sample is verified at ``live_verify_side``), in memory only, and only the frames
asked for. Pickled (triage hands its results from a worker process to the matching one), a
`FramePictures` carries the video's bytes and nothing decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image

from vangnet.errors import MediaError
from vangnet.media.video import frames_near, iter_video_frames
from vangnet.signals.features import QUERY_SIDE, QueryPicture
from vangnet.signals.pdq import RgbArray, hash_pixels, pdq_distance
from vangnet.signals.vpdq import FrameRegions

#: A frame found by seeking is the hashed one when its PDQ is within this many bits of it.
SAME_BITS = 2
#: A re-decoded frame is kept fitted within this many pixels on its longer side (the
#: default of ``live_verify_side``; never enlarged).
SIDE = 1280


class FramePictures:
    """The sampled frames of one in-memory video, decoded again when first needed."""

    def __init__(self, data: bytes, *, side: int = SIDE, verify_side: int = QUERY_SIDE) -> None:
        self.data = data
        self.side = side
        self.verify_side = verify_side  # each box fitted within it for its keypoints
        self._frames: dict[int, FrameRegions] = {}
        self._wanted: set[int] = set()
        self._made: dict[int, Image.Image] = {}
        #: rounds of decoding so far (each: the wanted frames by seeking, the rest from the
        #: start), and the frames a seek did not give back (decoded from the start)
        self.rounds = 0
        self.from_start = 0

    def want(self, number: int) -> None:
        """Frame ``number`` will be needed: made in the same round as the others wanted."""
        if number not in self._made:
            self._wanted.add(number)

    def frame(self, number: int) -> Image.Image:
        """Frame ``number`` (decode order), fitted within `side`; the first call makes
        every frame wanted so far, in one round."""
        made = self._made.get(number)
        if made is not None:
            return made
        wanted = self._wanted | {number}
        self._wanted = set()
        self.rounds += 1
        known = {n: self._frames[n] for n in wanted if n in self._frames}
        try:
            by_time = frames_near(self.data, [f.frame.timestamp for f in known.values()])
        except MediaError:
            by_time = {}
        for n, sampled in known.items():
            rgb = by_time.get(sampled.frame.timestamp)
            if rgb is not None and _same(rgb, sampled):
                self._keep(n, rgb)
        missing = wanted - self._made.keys()
        if missing:
            self.from_start += len(missing)
            for frame in iter_video_frames(self.data, numbers=missing):
                self._keep(frame.number, frame.rgb)
        if number not in self._made:  # decoded while hashing, so not expected
            raise LookupError(f"frame {number} is not in the video")
        return self._made[number]

    def _keep(self, number: int, rgb: RgbArray) -> None:
        picture = Image.fromarray(rgb)
        scale = self.side / max(picture.size)
        if scale < 1.0:
            size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
            picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        self._made[number] = picture

    def picture(self, frame: FrameRegions) -> QueryPicture:
        """The lazy `QueryPicture` of a sampled ``frame`` (made on first use)."""
        number = frame.frame.frame
        if frame.size is None:
            raise ValueError("a sampled frame without its size")
        self._frames[number] = frame
        return QueryPicture(
            _Frame(self, number),
            size=frame.size,
            whole=frame.content,
            prefetch=_Want(self, number),
            side=self.verify_side,
        )

    def attach(self, frames: Sequence[FrameRegions]) -> tuple[FrameRegions, ...]:
        """``frames`` each with its lazy picture (`FrameRegions.picture`)."""
        return tuple(replace(f, picture=self.picture(f)) for f in frames)

    def __reduce__(self) -> tuple[object, ...]:
        return (FramePictures, (self.data,), {"side": self.side, "frames": self._frames})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.side = state["side"]
        self._frames = dict(state["frames"])


def _same(rgb: RgbArray, sampled: FrameRegions) -> bool:
    """``rgb`` (a decoded frame) is the frame ``sampled`` was hashed from."""
    box = sampled.content
    if box is not None:
        rgb = np.ascontiguousarray(rgb[box.y : box.y + box.h, box.x : box.x + box.w])
    expected = (box.w, box.h) if box is not None else sampled.size
    if (rgb.shape[1], rgb.shape[0]) != expected:  # another size: not that frame
        return False
    return pdq_distance(hash_pixels(rgb)[0], sampled.frame.pdq) <= SAME_BITS


class _Frame:
    """Makes one frame's picture (picklable: `QueryPicture` pickles it, not the pixels)."""

    picklable = True

    def __init__(self, source: FramePictures, number: int) -> None:
        self.source, self.number = source, number

    def __call__(self) -> Image.Image:
        return self.source.frame(self.number)


class _Want:
    """Tells the source that one frame will be needed."""

    def __init__(self, source: FramePictures, number: int) -> None:
        self.source, self.number = source, number

    def __call__(self) -> None:
        self.source.want(self.number)
