"""The pixels of a query video's sampled frames, for the wider net (issue 12, point 2).

`vangnet.signals.vpdq.hash_video_variants` hashes up to ``match_video_frames`` sampled
frames of a query video (`FrameRegions`) and keeps none of their pixels. When a candidate of
one of those frames needs verifying by local features (`vangnet.match.service.Matcher`),
`FramePictures` decodes the in-memory video again, once from the start, up to the last frame
asked for, and converts to RGB only the frames asked for: the frames the matcher will verify
(`QueryPicture.prefetch`) are made together in that one pass; a frame asked for later (the
budget reached further than planned) costs another pass. Frames are identified by their
decode-order number, the numbering they were hashed under, so the pixels are those of the
frame that was hashed; a frame's bars are cropped as they were for its hash
(`FrameRegions.content`, `QueryPicture.whole`) and region boxes stay in the decoded frame's
pixels. Each frame is kept fitted within `SIDE` (as a live sample is verified at
``live_verify_side``), in memory only, and only the frames asked for.

Pickled (triage hands its results from a worker process to the matching one), a
`FramePictures` carries the video's bytes and nothing decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PIL import Image

from vangnet.media.video import iter_video_frames
from vangnet.signals.features import QueryPicture
from vangnet.signals.vpdq import FrameRegions

#: A re-decoded frame is kept fitted within this many pixels on its longer side (the
#: default of ``live_verify_side``; never enlarged).
SIDE = 1280


class FramePictures:
    """The sampled frames of one in-memory video, decoded again when first needed."""

    def __init__(self, data: bytes, *, side: int = SIDE) -> None:
        self.data = data
        self.side = side
        self._wanted: set[int] = set()
        self._made: dict[int, Image.Image] = {}
        #: passes over the video made so far (each decodes from the start)
        self.passes = 0

    def want(self, number: int) -> None:
        """Frame ``number`` will be needed: made in the same pass as the others wanted."""
        if number not in self._made:
            self._wanted.add(number)

    def frame(self, number: int) -> Image.Image:
        """Frame ``number`` (decode order), fitted within `side`; the first call decodes
        every frame wanted so far, in one pass."""
        made = self._made.get(number)
        if made is not None:
            return made
        wanted = self._wanted | {number}
        self._wanted = set()
        self.passes += 1
        for frame in iter_video_frames(self.data, numbers=wanted):
            picture = Image.fromarray(frame.rgb)
            scale = self.side / max(picture.size)
            if scale < 1.0:
                size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
                picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            self._made[frame.number] = picture
        if number not in self._made:  # decoded while hashing, so not expected
            raise LookupError(f"frame {number} is not in the video")
        return self._made[number]

    def picture(self, frame: FrameRegions) -> QueryPicture:
        """The lazy `QueryPicture` of a sampled ``frame`` (made on first use)."""
        number = frame.frame.frame
        if frame.size is None:
            raise ValueError("a sampled frame without its size")
        return QueryPicture(
            _Frame(self, number),
            size=frame.size,
            whole=frame.content,
            prefetch=_Want(self, number),
        )

    def attach(self, frames: Sequence[FrameRegions]) -> tuple[FrameRegions, ...]:
        """``frames`` each with its lazy picture (`FrameRegions.picture`)."""
        return tuple(replace(f, picture=self.picture(f)) for f in frames)

    def __reduce__(self) -> tuple[object, ...]:
        return (FramePictures, (self.data,), {"side": self.side})

    def __setstate__(self, state: dict[str, int]) -> None:
        self.side = state["side"]


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
