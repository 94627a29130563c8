"""vPDQ: one PDQ hash per sampled video frame, compatible with Meta's vPDQ and HMA.

The value of a ``vpdq`` signal is the serialization used by python-threatexchange's vPDQ
signal type (and so by HMA exports): a JSON list with one string per frame,
``"<pdq hex>,<quality>,<timestamp>"``, where the timestamp is written with Python's ``.3``
format (three significant digits, exactly as python-threatexchange writes it). Frame numbers
are not part of that format; parsing numbers the frames 0, 1, 2, ...

Matching follows vPDQ's brute-force matcher: drop frames below the quality floor, dedupe
frames by hash, a frame matches when any frame of the other video is within the distance
threshold; the match percentages are the matched shares of each side's remaining frames.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vangnet.errors import InvalidHashError
from vangnet.media.video import VideoFrame, crop_black_bars, iter_video_frames
from vangnet.signals.base import ContentType, IndexKind, SignalType
from vangnet.signals.pdq import PdqSignal, hash_pixels, pdq_distance

TIMESTAMP_FORMAT = ".3"  # python-threatexchange's VPDQ_TIMESTAMP_PRECISION, as a format spec


@dataclass(frozen=True)
class VpdqFrame:
    """One hashed frame: decode-order frame number, PDQ quality, PDQ hex, seconds."""

    frame: int
    quality: int
    pdq: str
    timestamp: float


@dataclass(frozen=True)
class VpdqMatch:
    """Result of comparing a query video with a banked one."""

    query_match_pct: float
    index_match_pct: float
    matched: bool


def hash_video(data: bytes, *, fps: float | None = None, crop_bars: bool = True) -> list[VpdqFrame]:
    """vPDQ of a video given as bytes: one PDQ per frame sampled at ``fps`` (default
    ``settings.video_fps``), decoded in memory. Raises `MediaError` subclasses.

    ``crop_bars`` (default) crops letterbox / pillarbox bars first
    (`vangnet.media.video.crop_black_bars`); off, frames are hashed whole as Meta's vPDQ
    reference does."""
    frames = []
    sampled = iter_video_frames(data, fps=fps)
    for frame in crop_black_bars(sampled) if crop_bars else sampled:
        pdq, quality = hash_pixels(frame.rgb)
        frames.append(VpdqFrame(frame.number, quality, pdq, frame.timestamp))
    return frames


def hash_video_variants(
    data: bytes, *, fps: float | None = None
) -> tuple[list[VpdqFrame], list[VpdqFrame] | None]:
    """vPDQ with bars cropped, plus whole-frame vPDQ when the video had bars, from one decode.

    The whole-frame hashes are what Meta's vPDQ reference (and so hashes imported from HMA)
    holds for a barred video; matching both keeps those banks useful.
    """
    originals: dict[int, VideoFrame] = {}

    def tap(frames: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
        for f in frames:
            originals[f.number] = f  # held only while the bar probe buffers (a few frames)
            yield f

    cropped: list[VpdqFrame] = []
    whole: list[VpdqFrame] = []
    barred = False
    for frame in crop_black_bars(tap(iter_video_frames(data, fps=fps))):
        original = originals.pop(frame.number)
        pdq, quality = hash_pixels(frame.rgb)
        cropped.append(VpdqFrame(frame.number, quality, pdq, frame.timestamp))
        if original.rgb.shape != frame.rgb.shape:
            barred = True
            pdq, quality = hash_pixels(original.rgb)
        whole.append(VpdqFrame(frame.number, quality, pdq, frame.timestamp))
    return cropped, (whole if barred else None)


def frames_of(items: list[dict[str, Any]]) -> list[VpdqFrame]:
    """Frames from the ``vpdq`` list of a `vangnet.hashing.hash_bytes` result."""
    return [
        VpdqFrame(int(i["frame"]), int(i["quality"]), str(i["pdq"]), float(i["timestamp"]))
        for i in items
    ]


def _format_frame(frame: VpdqFrame) -> str:
    return f"{frame.pdq},{frame.quality},{frame.timestamp:{TIMESTAMP_FORMAT}}"


def serialize(frames: list[VpdqFrame]) -> str:
    """The python-threatexchange / HMA value for ``frames``."""
    return json.dumps([_format_frame(f) for f in frames])


def _parse_frame(index: int, text: object) -> VpdqFrame:
    if not isinstance(text, str):
        raise InvalidHashError(f"vPDQ frame {index}: expected a string, got {type(text).__name__}")
    parts = text.split(",")
    if len(parts) != 3:
        raise InvalidHashError(f"vPDQ frame {index}: expected 'pdq_hex,quality,timestamp'")
    pdq = PdqSignal.validate(parts[0])
    try:
        quality, timestamp = int(parts[1]), float(parts[2])
    except ValueError:
        raise InvalidHashError(f"vPDQ frame {index}: bad quality or timestamp") from None
    if not 0 <= quality <= 100:
        raise InvalidHashError(f"vPDQ frame {index}: quality {quality} is not in 0-100")
    if not (math.isfinite(timestamp) and timestamp >= 0):
        raise InvalidHashError(f"vPDQ frame {index}: timestamp must be a number >= 0")
    return VpdqFrame(index, quality, pdq, timestamp)


def parse(value: str) -> list[VpdqFrame]:
    """Frames of a serialized vPDQ value; raises `InvalidHashError`."""
    try:
        items = json.loads(value) if isinstance(value, str) and value.strip() else None
    except json.JSONDecodeError as exc:
        raise InvalidHashError(f"not a vPDQ value: invalid JSON ({exc.msg})") from None
    if not isinstance(items, list) or not items:
        raise InvalidHashError("not a vPDQ value: expected a non-empty JSON list of frames")
    return [_parse_frame(i, item) for i, item in enumerate(items)]


def _usable(frames: list[VpdqFrame], quality_floor: int) -> list[str]:
    seen: dict[str, None] = {}
    for f in frames:
        if f.quality >= quality_floor:
            seen.setdefault(f.pdq, None)
    return list(seen)


def _matched_share(side: list[str], other: list[str], threshold: int) -> float:
    if not side:
        return 0.0
    hits = sum(any(pdq_distance(a, b) <= threshold for b in other) for a in side)
    return hits * 100.0 / len(side)


def vpdq_match(
    query: list[VpdqFrame],
    banked: list[VpdqFrame],
    *,
    threshold: int = 31,
    quality_floor: int = 50,
    query_match_pct: float = 80.0,
    index_match_pct: float = 0.0,
) -> VpdqMatch:
    """Compare two videos as vPDQ does; ``matched`` when both shares reach their minimum."""
    q, b = _usable(query, quality_floor), _usable(banked, quality_floor)
    q_pct = _matched_share(q, b, threshold)
    b_pct = _matched_share(b, q, threshold)
    matched = bool(q and b) and q_pct >= query_match_pct and b_pct >= index_match_pct
    return VpdqMatch(query_match_pct=q_pct, index_match_pct=b_pct, matched=matched)


class VpdqSignal(SignalType):
    name = "vpdq"
    index_kind = IndexKind.FRAMES
    default_threshold = 31
    content_types = frozenset({ContentType.VIDEO})
    description = (
        "vPDQ: PDQ of one frame per second of a video (python-threatexchange / HMA format)."
    )

    @classmethod
    def validate(cls, value: str) -> str:
        return serialize(parse(value))

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Smallest PDQ distance between any usable frame of ``a`` and any of ``b``."""
        fa, fb = parse(a), parse(b)
        return min(pdq_distance(x.pdq, y.pdq) for x in fa for y in fb)
