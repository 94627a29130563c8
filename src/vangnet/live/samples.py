"""A sampled live frame, as every source hands it to the processing stage."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from vangnet.errors import ValidationError
from vangnet.live.sampler import SampleReason
from vangnet.media.image import decode_image, upright_size
from vangnet.media.limits import pixel_limit
from vangnet.media.regions.edges import Box
from vangnet.media.sniff import sniff
from vangnet.media.video import content_box
from vangnet.signals.classifiers.fusion import Fused
from vangnet.signals.pdq import PdqSignal, fit_for_pdq

RgbArray = npt.NDArray[np.uint8]

#: Frames are shrunk to fit within this square before PDQ (as photos are).
HASH_SIDE = 512


@dataclass
class Sample:
    """One sample of one stream: when it was taken, what to hash, how to keep it.

    ``pixels`` (at most `HASH_SIDE` on a side) is what PDQ sees; a hash-only push sample
    has none and comes with ``pdq`` set. ``signals`` holds the values of the other picture
    signal types (plug-ins) the processor computed on ``pixels``, by signal type; they are
    kept with the sample's evidence. ``evidence`` produces the full frame as PNG (or the
    pushed bytes) only if the sample has to be preserved.
    """

    stream_id: int
    stream_time: float
    received_at: float  # wall clock (time.time()) when the frame was decoded or received
    reason: SampleReason
    pixels: RgbArray | None = None
    pdq: str | None = None
    quality: int | None = None
    media_type: str = "image/png"
    evidence: Callable[[], bytes] | None = field(default=None, repr=False)
    scores: dict[str, float] = field(default_factory=dict)  # classifier name -> 0..1
    #: classifier name -> its one-line summary of ``pixels`` ("nudity 0.91 (open-nsfw)")
    summaries: dict[str, str] = field(default_factory=dict)
    #: classifier name -> why it gave no score for this sample (it failed)
    classifier_errors: dict[str, str] = field(default_factory=dict)
    signals: dict[str, str] = field(default_factory=dict)  # other signal type -> value
    #: The priority signal of its scores (None: not scored) and, for a likely sample, how
    #: likely it is a video call (0-1, image clues) and the clues, for the review-now rule.
    priority: Fused | None = None
    video_call: float = 0.0
    video_call_reasons: tuple[str, ...] = ()
    #: Where ``pixels`` sit in the frame as received: the offset (x, y) of its top-left
    #: corner in the scaled frame (black bars cropped) and the frame's pixels per pixel of
    #: ``pixels``, so a region found in ``pixels`` is reported in the frame's own pixels.
    offset: tuple[int, int] = (0, 0)
    scale: float = 1.0
    #: The same picture (bars cropped alike) at most ``side`` pixels on its longer side,
    #: scaled from the decoded frame when called (its layout is read on it); None for a
    #: pushed sample (its ``pixels`` are all there is).
    larger: Callable[[int], RgbArray] | None = field(default=None, repr=False)

    def frame_box(self, box: Box) -> Box:
        """``box`` (in ``pixels``) in the frame's own pixels (`offset`, `scale`)."""
        shifted = box.shifted(*self.offset)
        if self.scale == 1.0:
            return shifted
        return Box(
            round(shifted.x * self.scale),
            round(shifted.y * self.scale),
            round(shifted.w * self.scale),
            round(shifted.h * self.scale),
        )


def classifier_keys(sample: Sample) -> dict[str, Any]:
    """The classifier keys of a sample's ``match`` and ``alert`` events, those it has:
    ``scores`` (classifier name -> value in 0-1), ``score_summaries`` (name -> one line a
    reviewer reads) and ``classifier_errors`` (name -> why it gave no score)."""
    keys: dict[str, Any] = {}
    if sample.scores:
        keys["scores"] = dict(sample.scores)
    if sample.summaries:
        keys["score_summaries"] = dict(sample.summaries)
    if sample.classifier_errors:
        keys["classifier_errors"] = dict(sample.classifier_errors)
    return keys


def hash_size(width: int, height: int) -> tuple[int, int]:
    """The size a frame is scaled to before hashing: within `HASH_SIDE`, aspect kept."""
    scale = min(1.0, HASH_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def crop_bars(pixels: RgbArray) -> RgbArray:
    """``pixels`` without letterbox / pillarbox bars (a picture shown in a player, or a
    photo held in a wider frame), decided on this frame alone."""
    return crop_bars_at(pixels)[0]


def crop_bars_at(pixels: RgbArray) -> tuple[RgbArray, tuple[int, int]]:
    """`crop_bars`, and the (x, y) of the kept part's top-left corner in ``pixels``."""
    box = content_box([pixels])
    if box is None:
        return pixels, (0, 0)
    top, bottom, left, right = box
    return np.ascontiguousarray(pixels[top:bottom, left:right]), (left, top)


def png_of_frame(frame: av.VideoFrame) -> Callable[[], bytes]:
    """A closure encoding ``frame`` (full size) as PNG in memory when called."""

    def encode() -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        rgb = frame.to_ndarray(format="rgb24")
        Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)  # lossless, fast
        return buf.getvalue()

    return encode


def frame_sample(
    stream_id: int,
    stream_time: float,
    received_at: float,
    reason: SampleReason,
    frame: av.VideoFrame,
) -> Sample:
    """A sample of a decoded frame: scaled by FFmpeg and cropped of black bars for hashing,
    kept whole for evidence."""
    width, height = hash_size(frame.width, frame.height)
    small = frame.reformat(width=width, height=height, format="rgb24")
    pixels, offset = crop_bars_at(np.ascontiguousarray(small.to_ndarray(), dtype=np.uint8))
    return Sample(
        stream_id,
        stream_time,
        received_at,
        reason,
        pixels=pixels,
        evidence=png_of_frame(frame),
        offset=offset,
        scale=frame.width / width,
        larger=_larger_of(frame, (width, height), offset, pixels.shape[:2]),
    )


def _larger_of(
    frame: av.VideoFrame, size: tuple[int, int], offset: tuple[int, int], kept: tuple[int, ...]
) -> Callable[[int], RgbArray]:
    """A closure scaling ``frame`` to fit within ``side`` (at least ``size``) and cropping
    it where ``pixels`` (``kept`` rows x columns at ``offset`` of ``size``) were cropped."""

    def larger(side: int) -> RgbArray:
        factor = max(1.0, side / max(size))
        width = min(frame.width, round(size[0] * factor)) // 2 * 2
        height = min(frame.height, round(size[1] * factor)) // 2 * 2
        fx, fy = width / size[0], height / size[1]
        big = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
        x0, y0 = round(offset[0] * fx), round(offset[1] * fy)
        x1, y1 = round((offset[0] + kept[1]) * fx), round((offset[1] + kept[0]) * fy)
        return np.ascontiguousarray(big[y0:y1, x0:x1], dtype=np.uint8)

    return larger


def pushed_frame_sample(
    stream_id: int, stream_time: float, received_at: float, data: bytes, *, max_pixels: int
) -> Sample:
    """A sample of a frame a platform posted (JPEG, PNG, WebP... bytes), decoded in memory.

    Raises the `vangnet.errors.MediaError` family for unreadable or oversized pictures: the
    pixel cap is ``max_pixels`` (``live_max_pixels``; ``max_image_pixels`` when smaller),
    checked from the header before decoding, as for pulled streams. The posted bytes
    themselves are the evidence."""

    sniffed = sniff(data)
    cap = pixel_limit(max_pixels, setting="live_max_pixels")
    decoded = decode_image(data, max_pixels=cap)[0]
    picture = fit_for_pdq(decoded)
    pixels, offset = crop_bars_at(np.asarray(picture.convert("RGB"), dtype=np.uint8))
    return Sample(
        stream_id,
        stream_time,
        received_at,
        SampleReason.BASE,
        pixels=np.ascontiguousarray(pixels),
        media_type=f"image/{sniffed.format.lower()}",
        evidence=lambda: data,
        offset=offset,
        scale=upright_size(data)[0] / picture.width,
    )


def pushed_hash_sample(
    stream_id: int, stream_time: float, received_at: float, pdq: str, quality: int
) -> Sample:
    """A sample of a hash-only push: the platform hashed the frame itself (no media here)."""
    if not 0 <= quality <= 100:
        raise ValidationError("quality must be from 0 to 100")
    return Sample(
        stream_id,
        stream_time,
        received_at,
        SampleReason.BASE,
        pdq=PdqSignal.validate(pdq),
        quality=quality,
    )
